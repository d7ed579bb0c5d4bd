// Shipped header: the exceptions of jittrace's public C++ API.
#pragma once

#include <jittrace/export.h>

#include <stdexcept>

namespace jittrace {

/// Base of every error jittrace raises itself. Errors raised by the traced code (a user
/// callable, a libtorch op inside it) pass through unchanged and are not wrapped.
///
/// \code
/// try {
///   auto m = jittrace::trace_forward(net, torch::randn({2, 4}));
/// } catch (const jittrace::InputError& e) {  // bad arguments to jittrace
///   std::cerr << e.what() << "\n";
/// } catch (const jittrace::TraceError& e) {  // the code ran, but its trace is not TorchScript
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
/// or duplicate method name, no methods. Python sees it as `jittrace.InputError`, a `TypeError`.
class JITTRACE_API InputError : public Error {
 public:
  using Error::Error;
  ~InputError() override;
};

/// The traced code ran but its trace cannot become TorchScript: it returned a non-tensor, read
/// a tensor that requires grad and is neither an input nor a parameter, returned a tensor that
/// does not depend on the inputs, or ran inside another trace. Python sees it as
/// `jittrace.TraceError`, a `RuntimeError`.
class JITTRACE_API TraceError : public Error {
 public:
  using Error::Error;
  ~TraceError() override;
};

/// A bug in jittrace: one of its own invariants does not hold. Never the user's fault; please
/// report it. Python sees it as `jittrace.InternalError`, a `RuntimeError`.
class JITTRACE_API InternalError : public Error {
 public:
  using Error::Error;
  ~InternalError() override;
};

}  // namespace jittrace
