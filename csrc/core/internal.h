// Internal header, not shipped: helpers shared by the core's translation units.
#pragma once

#include <jittrace/jittrace.h>
#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <string>
#include <vector>

namespace jittrace::detail {

/// Runs libtorch's tracer on `fn` and returns the finished graph. `self`, when given, is the
/// module whose attributes become `prim::GetAttr` reads. `prefix` starts every error message
/// ("[trace_module] forward (train mode): "). Errors from `fn` propagate unchanged; errors of
/// the tracer itself become TraceError.
std::shared_ptr<torch::jit::Graph> trace_graph(const std::string& prefix, const Fn& fn,
                                               std::vector<c10::IValue> inputs, bool strict,
                                               torch::jit::Module* self,
                                               const std::vector<std::string>& argument_names);

/// Adds `graph`, traced with `self`, to `self`'s class as method `name`.
void add_method(torch::jit::Module& self, const std::string& name,
                std::shared_ptr<torch::jit::Graph> graph);

/// True if `name` can be a TorchScript identifier.
bool is_identifier(const std::string& name);

}  // namespace jittrace::detail
