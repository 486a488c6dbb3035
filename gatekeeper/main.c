/*
 * main.c - the gatekeeper command line: argument parsing and dispatch to the subcommands.
 */
#include <stdio.h>

int
main(void)
{
    fputs("gatekeeper: not built yet\n", stderr);
    return 2;
}
