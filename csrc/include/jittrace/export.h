// Shipped header: part of jittrace's public C++ API.
#pragma once

/// Marks a declaration as part of libjittrace's exported surface. The library is built with
/// hidden visibility, so anything without this macro stays internal.
#if defined(_WIN32)
#define JITTRACE_API
#else
#define JITTRACE_API __attribute__((visibility("default")))
#endif
