#include <stdarg.h>
#include <stdio.h>

#include "../backend.h"

extern "C" int fp8k_fail(fp8k_error* err, int status, const char* fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return status;
}
