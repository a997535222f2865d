/* Entry point of bin/spotsweep: the CLI and the scheduler daemon (`spotsweep serve`). */
#include "spotsweep/cmd.h"

int
main(int argc, char **argv)
{
	return cmd_main(argc, argv);
}
