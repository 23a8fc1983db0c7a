/* main.c: entry point of wpsgate, the command-line client of wpsgated. */
#include <config.h>
#include "cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
