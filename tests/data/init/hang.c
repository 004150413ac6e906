// SPDX-License-Identifier: GPL-2.0
/* An /init that never powers off: the guest runner must kill it at its timeout. */
#include <unistd.h>

int main(void)
{
	static const char msg[] = "test-init: waiting forever\n";

	if (write(2, msg, sizeof(msg) - 1) < 0)
		return 1;
	for (;;)
		pause();
}
