// The key functions of jittrace's exception classes: defining them here, once, gives each class
// a single exported typeinfo, so a `catch (const jittrace::Error&)` in another shared object
// matches what libjittrace throws.
#include <jittrace/errors.h>

namespace jittrace {

Error::~Error() = default;
InputError::~InputError() = default;
TraceError::~TraceError() = default;
InternalError::~InternalError() = default;

}  // namespace jittrace
