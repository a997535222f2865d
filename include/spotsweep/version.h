/* The version both binaries print with --version. */
#ifndef SPOTSWEEP_VERSION_H
#define SPOTSWEEP_VERSION_H

#define SPOTSWEEP_VERSION "0.1.0"

#endif
