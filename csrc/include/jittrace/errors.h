// Shipped header: part of jittrace's public C++ API.
#pragma once

#include <jittrace/export.h>

#include <stdexcept>
#include <string>

namespace jittrace {

/// Base of every error jittrace raises itself. Errors raised by the traced code (a user
/// callable, a libtorch op inside it) pass through unchanged and are not wrapped.
///
/// \code
/// try {
///   auto m = jittrace::trace_module(net, "forward", {torch::randn({2, 4})});
/// } catch (const jittrace::InputError& e) {  // bad arguments to jittrace
///   std::cerr << e.what() << "\n";
/// }
/// \endcode
class JITTRACE_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  // Out of line: gives the class one exported typeinfo, so `catch` works across shared objects.
  ~Error() override;
};

/// The arguments given to jittrace cannot be traced: a non-tensor example input, an invalid
/// method name, a missing method. Python sees it as `jittrace.InputError`, a `TypeError`.
class JITTRACE_API InputError : public Error {
 public:
  using Error::Error;
  ~InputError() override;
};

/// The traced code ran but its trace cannot become TorchScript: it returned a non-tensor,
/// read a tensor that requires grad and is not a parameter, or was traced inside another
/// trace. Python sees it as `jittrace.TraceError`, a `RuntimeError`.
class JITTRACE_API TraceError : public Error {
 public:
  using Error::Error;
  ~TraceError() override;
};

}  // namespace jittrace
