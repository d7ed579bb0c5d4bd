// Whether the tracer stamps traced nodes with Python source locations, per trace.
#pragma once

#include <jittrace/detail.h>

namespace jittrace::python {

/// While alive, traces on this thread record Python source locations only if `record`, and then
/// also name traced values after the user's local variables (jittrace._names.local_name).
/// Installs jittrace's source-location hook on first use (see source_locations.cpp); traces by
/// torch.jit.trace, on any thread, keep recording them exactly as before.
class SourceLocations {
 public:
  explicit SourceLocations(bool record);
  ~SourceLocations();
  SourceLocations(const SourceLocations&) = delete;
  SourceLocations& operator=(const SourceLocations&) = delete;

 private:
  bool previous_;
  detail::NameLookup previous_names_;
};

}  // namespace jittrace::python
