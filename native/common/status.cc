#include <stdarg.h>
#include <stdio.h>

#include "../backend.h"

extern "C" int fp8k_fail(fp8k_call* call, int status, const char* fmt, ...) {
  if (call) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->message, sizeof call->message, fmt, ap);
    va_end(ap);
  }
  return status;
}
