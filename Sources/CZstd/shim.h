#ifndef AIRLIFT_CZSTD_SHIM_H
#define AIRLIFT_CZSTD_SHIM_H
#include <zstd.h>
#include <zstd_errors.h>
#endif
