// Tests of jittrace's C++ API. Exercises: trace_function (save/load, tuples, mixed containers),
// trace_forward / trace_module on C++-frontend modules (both modes, shared parameters, methods
// in the caller's order with argument names, state, flags and reassigned parameters restored,
// warnings), bad use (the exact jittrace exception type, no tracing state left behind),
// tracing from four threads at once, variants of constant arguments, and manifests (strict
// JSON, fields of the right types, whatever the locale).
#include <jittrace/jittrace.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/runtime/jit_exception.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/torch.h>

#include <atomic>
#include <clocale>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include "check.h"

namespace {

// Collects c10 warnings (TORCH_WARN) while alive.
struct WarningCapture : c10::WarningHandler {
  WarningCapture() : previous(c10::WarningUtils::get_warning_handler()) {
    c10::WarningUtils::set_warning_handler(this);
  }
  ~WarningCapture() override { c10::WarningUtils::set_warning_handler(previous); }
  void process(const c10::Warning& warning) override { messages.push_back(warning.msg()); }
  c10::WarningHandler* previous;
  std::vector<std::string> messages;
};

bool m_has(const torch::jit::Module& m, const std::string& method) {
  return m.find_method(method).has_value();
}

torch::jit::Module reload(const torch::jit::Module& m) {
  std::stringstream buffer;
  m.save(buffer);
  return torch::jit::load(buffer);
}

jittrace::Fn unary(std::function<torch::Tensor(torch::Tensor)> f) {
  return [f](std::vector<c10::IValue> in) -> c10::IValue { return f(in.at(0).toTensor()); };
}

struct NetImpl : torch::nn::Module {
  NetImpl()
      : fc1(register_module("fc1", torch::nn::Linear(4, 8))),
        bn(register_module("bn", torch::nn::BatchNorm1d(8))),
        drop(register_module("drop", torch::nn::Dropout(0.5))),
        fc2(register_module("fc2", torch::nn::Linear(8, 2))) {}
  torch::Tensor forward(torch::Tensor x) { return fc2(drop(torch::relu(bn(fc1(x))))); }
  torch::nn::Linear fc1;
  torch::nn::BatchNorm1d bn;
  torch::nn::Dropout drop;
  torch::nn::Linear fc2;
};
TORCH_MODULE(Net);

void test_function() {
  auto m = jittrace::trace_function(unary([](torch::Tensor x) { return torch::relu(x); }),
                                    {torch::randn({3})});
  auto x = torch::tensor({-1.0, 0.0, 2.0});
  JT_CHECK(torch::equal(m.forward({x}).toTensor(), torch::relu(x)));
  JT_CHECK(torch::equal(reload(m).forward({x}).toTensor(), torch::relu(x)));
}

void test_function_tuple_and_mixed_container() {
  jittrace::Fn fn = [](std::vector<c10::IValue> in) -> c10::IValue {
    auto items = in.at(0).toList();  // [x, [y, z]]: a mixed list, List[Any]
    auto x = items.get(0).toTensor();
    auto yz = items.get(1).toTensorVector();
    return c10::ivalue::Tuple::create({x + yz[0], x * yz[1]});
  };
  auto make = [](double a, double b, double c) {
    c10::impl::GenericList items(c10::AnyType::get());
    items.push_back(torch::full({2}, a));
    items.push_back(c10::List<torch::Tensor>({torch::full({2}, b), torch::full({2}, c)}));
    return items;
  };
  auto m = jittrace::trace_function(fn, {make(1, 2, 3)});
  auto out = m.forward({make(2, 3, 4)}).toTupleRef().elements();
  JT_CHECK(torch::equal(out[0].toTensor(), torch::full({2}, 5.0)));
  JT_CHECK(torch::equal(out[1].toTensor(), torch::full({2}, 8.0)));
}

void test_module_both_modes_and_shared_parameters() {
  Net net;
  auto x = torch::randn({5, 4});
  auto traced = jittrace::trace_forward(net, x);
  JT_CHECK(traced.find_method("trainforward").has_value());
  JT_CHECK(traced.find_method("evalforward").has_value());
  JT_CHECK(traced.is_training());

  // Parameters are the module's own tensors, under their C++ names.
  auto weight = traced.attr("fc1").toModule().attr("weight").toTensor();
  JT_CHECK(weight.unsafeGetTensorImpl() == net->fc1->weight.unsafeGetTensorImpl());
  int count = 0;
  for (const auto& p : traced.named_parameters()) count += p.name == "fc1.weight";
  JT_CHECK(count == 1);

  net->eval();
  traced.eval();
  JT_CHECK(torch::allclose(traced.forward({x}).toTensor(), net->forward(x)));
  // Train mode: dropout under the same seed gives the same mask in eager and traced code.
  net->train();
  traced.train();
  torch::manual_seed(7);
  auto eager = net->forward(x);
  torch::manual_seed(7);
  auto mine = traced.forward({x}).toTensor();
  JT_CHECK(torch::allclose(mine, eager));

  auto loaded = reload(traced);
  loaded.eval();
  net->eval();
  JT_CHECK(torch::allclose(loaded.forward({x}).toTensor(), net->forward(x)));
}

void test_state_is_restored() {
  Net net;
  auto x = torch::randn({5, 4});
  auto mean = net->bn->running_mean.clone();
  auto gen = at::detail::getDefaultCPUGenerator();
  auto state = gen.get_state();
  jittrace::trace_forward(net, x);  // the train-mode trace runs batch norm and dropout
  JT_CHECK(torch::equal(net->bn->running_mean, mean));
  JT_CHECK(net->bn->num_batches_tracked.item<int64_t>() == 0);
  JT_CHECK(torch::equal(gen.get_state(), state));
  JT_CHECK(net->is_training() && net->bn->is_training());

  net->bn->eval();  // a frozen batch norm inside a training model
  jittrace::trace_forward(net, x);
  JT_CHECK(net->is_training() && !net->bn->is_training() && net->drop->is_training());
}

void test_respect_mode_false() {
  Net net;
  net->eval();
  auto traced = jittrace::trace_forward_with({.strict = true, .respect_mode = false}, net,
                                             torch::randn({2, 4}));
  JT_CHECK(!traced.find_method("trainforward").has_value());
  JT_CHECK(traced.find_method("forward").has_value());
  JT_CHECK(!traced.is_training());
}

void test_bad_use() {
  Net net;
  // No methods, an empty function, a non-tensor input, a non-tensor output.
  JT_CHECK_THROWS(jittrace::trace_module(*net, {}), jittrace::InputError,
                  "there are no methods to trace");
  JT_CHECK_THROWS(jittrace::trace_function(jittrace::Fn{}, {torch::ones(1)}), jittrace::InputError,
                  "the function to trace is empty");
  JT_CHECK_THROWS(
      jittrace::trace_function(unary([](torch::Tensor x) { return x; }),
                               {c10::ivalue::Tuple::create({torch::ones(1), c10::IValue(3)})}),
      jittrace::InputError,
      "[trace_function] example_inputs[0][1] is an int; an example input must be a tensor");
  JT_CHECK_THROWS(jittrace::trace_function(
                      [](std::vector<c10::IValue> in) -> c10::IValue { return c10::IValue(1.5); },
                      {torch::ones(1)}),
                  jittrace::TraceError, "the traced function returned a float at output");
  // Empty inputs for a callable that needs one: its own exception passes through.
  JT_CHECK_THROWS(jittrace::trace_function(unary([](torch::Tensor x) { return x; }), {}),
                  std::out_of_range, "");
  JT_CHECK(!torch::jit::tracer::isTracing());

  // A callable that throws: the exception propagates unchanged, the module is restored.
  net->bn->eval();
  auto mean = net->bn->running_mean.clone();
  jittrace::Fn throws = [&](std::vector<c10::IValue> in) -> c10::IValue {
    net->forward(in.at(0).toTensor());
    throw std::runtime_error("boom from the callable");
  };
  JT_CHECK_THROWS(jittrace::trace_module(*net, {{"forward", throws, {torch::randn({3, 4})}}}),
                  std::runtime_error, "boom from the callable");
  JT_CHECK(!torch::jit::tracer::isTracing());
  JT_CHECK(net->is_training() && !net->bn->is_training());
  JT_CHECK(torch::equal(net->bn->running_mean, mean));

  // A module used in the traced code but not registered: its weights would be constants.
  torch::nn::Linear stranger(4, 4);
  jittrace::Fn uses_stranger = [&](std::vector<c10::IValue> in) -> c10::IValue {
    return stranger(in.at(0).toTensor());
  };
  JT_CHECK_THROWS(
      jittrace::trace_module(*net, {{"forward", uses_stranger, {torch::randn({3, 4})}}}),
      jittrace::TraceError,
      "[trace_module] forward (train mode): the traced code read a tensor that requires grad "
      "and is neither an example input nor a parameter or buffer of the traced module");
  JT_CHECK(!torch::jit::tracer::isTracing());

  // Invalid and colliding method names.
  auto fn = unary([](torch::Tensor x) { return x; });
  JT_CHECK_THROWS(jittrace::trace_module(*net, {{"bad name", fn, {torch::ones(1)}}}),
                  jittrace::InputError, "[trace_module] 'bad name' is not a valid method name");
  JT_CHECK_THROWS(jittrace::trace_module(*net, {{"fc1", fn, {torch::ones(1)}}}),
                  jittrace::InputError, "already has an attribute or method of that name");
  JT_CHECK_THROWS(jittrace::trace_module(
                      *net, {{"forward", fn, {torch::ones(1)}}, {"forward", fn, {torch::ones(1)}}}),
                  jittrace::InputError,
                  "[trace_module] 'forward' is listed twice with nothing to tell the listings "
                  "apart");
  JT_CHECK_THROWS(jittrace::trace_module(*net, {{"forward", fn, {torch::ones(1)}},
                                                {"trainforward", fn, {torch::ones(1)}}}),
                  jittrace::InputError,
                  "tracing 'forward' adds the method 'trainforward', but the module already has a "
                  "traced method of that name");
  JT_CHECK_THROWS(jittrace::trace_module(*net, {{"forward", fn, {at::Tensor()}}}),
                  jittrace::InputError,
                  "[trace_module] forward: example_inputs[0] is an undefined tensor");
  JT_CHECK_THROWS(
      jittrace::trace_module(*net, {{"forward", fn, {torch::ones(1), c10::IValue(1)}},
                                    {"forward", fn, {torch::ones(1), c10::IValue("a")}}}),
      jittrace::InputError,
      "argument 'argument_2' of 'forward' is int in one variant and str in another");
  // Nested tracing.
  jittrace::Fn nested = [&](std::vector<c10::IValue> in) -> c10::IValue {
    return jittrace::trace_function(unary([](torch::Tensor x) { return x; }), in).forward(in);
  };
  JT_CHECK_THROWS(jittrace::trace_function(nested, {torch::ones(1)}), jittrace::TraceError,
                  "a trace is already running on this thread");
  // After all of that, tracing still works.
  test_function();
}

// Train mode returns an auxiliary output: `forward` returns the Union of the modes' types, and
// keeps dispatching after save and load.
void test_different_output_types_get_a_union_typed_forward() {
  torch::nn::Dropout drop(0.5);
  jittrace::Fn fn = [&](std::vector<c10::IValue> in) -> c10::IValue {
    auto x = drop(in.at(0).toTensor());
    if (drop->is_training()) return c10::ivalue::Tuple::create({x, x.sum()});
    return x;
  };
  WarningCapture warnings;
  auto traced = jittrace::trace_module(*drop, {{"forward", fn, {torch::ones(3)}}});
  JT_CHECK(warnings.messages.empty());
  const auto returned = traced.get_method("forward").function().getSchema().returns().at(0).type();
  const auto* options = returned->castRaw<c10::UnionType>();
  JT_CHECK(options != nullptr && options->containedTypes().size() == 2 &&
           options->canHoldType(*c10::TensorType::get()) &&
           options->canHoldType(
               *c10::TupleType::create({c10::TensorType::get(), c10::TensorType::get()})));
  auto loaded = reload(traced);
  loaded.train();
  JT_CHECK(loaded.forward({torch::ones(3)}).isTuple());
  loaded.eval();
  auto out = loaded.forward({torch::ones(3)});
  JT_CHECK(out.isTensor() && torch::equal(out.toTensor(), torch::ones(3)));
}

// Methods are traced in the caller's order, with the caller's argument names.
void test_methods_in_order_with_argument_names() {
  Net net;
  auto double_it = unary([](torch::Tensor x) { return x * 2; });
  jittrace::Fn project = [&](std::vector<c10::IValue> in) -> c10::IValue {
    return net->fc1(in.at(0).toTensor()) + in.at(1).toTensor();
  };
  auto traced = jittrace::trace_module(
      *net,
      {{"project", project, {torch::randn({2, 4}), torch::randn({2, 8})}, {"x", "bias"}},
       {"forward",
        [&](std::vector<c10::IValue> in) -> c10::IValue {
          return net->forward(in.at(0).toTensor());
        },
        {torch::randn({2, 4})}},
       {"scale", double_it, {torch::randn(3)}, {"value"}}},
      {.strict = true, .respect_mode = false});
  std::vector<std::string> names;
  for (const auto& method : traced.get_methods()) names.push_back(method.name());
  JT_CHECK((names == std::vector<std::string>{"project", "forward", "scale"}));
  const auto& schema = traced.get_method("project").function().getSchema();
  JT_CHECK(schema.arguments().size() == 3 && schema.arguments()[1].name() == "x" &&
           schema.arguments()[2].name() == "bias");
  JT_CHECK(traced.get_method("scale").function().getSchema().arguments()[1].name() == "value");
  auto x = torch::randn({2, 4});
  auto b = torch::randn({2, 8});
  JT_CHECK(torch::allclose(traced.get_method("project")({x, b}).toTensor(), net->fc1(x) + b));
}

// A module whose forward reassigns its parameter (through the protected parameters_) and
// modifies another one in place: the slot is put back, the in-place change is reported.
struct SwapperImpl : torch::nn::Module {
  SwapperImpl()
      : w(register_parameter("w", torch::ones(2))), v(register_parameter("v", torch::ones(2))) {}
  torch::Tensor forward(torch::Tensor x) {
    parameters_["w"] = torch::zeros(2);
    {
      torch::NoGradGuard no_grad;
      v.add_(1);
    }
    return x * parameters_["w"] + v;
  }
  torch::Tensor w;
  torch::Tensor v;
};
TORCH_MODULE(Swapper);

void test_reassigned_parameters_are_put_back_and_in_place_changes_reported() {
  Swapper swapper;
  const auto* original = swapper->w.unsafeGetTensorImpl();
  WarningCapture warnings;
  jittrace::trace_forward(swapper, torch::ones(2));
  JT_CHECK(swapper->named_parameters()["w"].unsafeGetTensorImpl() == original);
  JT_CHECK(warnings.messages.size() == 1 &&
           warnings.messages[0] ==
               "[trace_module] the traced code modified parameter 'v' in place; parameters are "
               "not copied before tracing, so its value could not be restored");
}

void test_threads() {
  std::vector<std::function<torch::Tensor(torch::Tensor)>> fns = {
      [](torch::Tensor x) { return torch::relu(x); },
      [](torch::Tensor x) { return torch::sigmoid(x); },
      [](torch::Tensor x) { return torch::tanh(x) * 2; },
      [](torch::Tensor x) { return x.exp() - 1; }};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < fns.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        try {
          auto x = torch::randn({16});
          auto m = jittrace::trace_function(unary(fns[t]), {x});
          auto y = torch::randn({16});
          if (!torch::allclose(m.forward({y}).toTensor(), fns[t](y))) ++wrong;
        } catch (const std::exception& e) {
          std::cerr << "thread " << t << ": " << e.what() << "\n";
          ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  JT_CHECK(wrong == 0);
}

// A method traced for several values of a constant argument dispatches on it in TorchScript:
// by position, by keyword, through its default, after saving; other values raise.
void test_variants_dispatch_on_constant_arguments() {
  Net net;
  jittrace::Fn fn = [&](std::vector<c10::IValue> in) -> c10::IValue {
    auto y = net->forward(in.at(0).toTensor());
    return in.at(1).toInt() == 2 ? y * 2 : y;
  };
  const std::vector<std::string> names{"x", "scale"};
  const std::vector<std::pair<std::string, c10::IValue>> defaults{{"scale", 1}};
  auto x = torch::randn({3, 4});
  auto traced = jittrace::trace_module(
      *net, {{"forward", fn, {x, 1}, names, defaults}, {"forward", fn, {x, 2}, names, defaults}});
  net->eval();
  traced.eval();
  const auto expected = net->forward(x);
  for (const auto& m : {traced, reload(traced)}) {
    auto method = m.get_method("forward");
    JT_CHECK(torch::allclose(method({x, 2}).toTensor(), expected * 2));
    JT_CHECK(torch::allclose(method({x}, {{"scale", 2}}).toTensor(), expected * 2));
    JT_CHECK(torch::allclose(method({x}).toTensor(), expected));  // the default
    JT_CHECK_THROWS(method({x, 3}), torch::jit::JITException,
                    "jittrace: forward() was traced for (scale=1), (scale=2) only; it cannot "
                    "compute scale=3 without a trace for those values");
  }
  JT_CHECK(m_has(traced, "trainforward__1") && m_has(traced, "evalforward__0"));

  // One listing with a constant: the trace takes the tensors, the method checks the constant.
  auto single = jittrace::trace_function(
      [](std::vector<c10::IValue> in) -> c10::IValue {
        return in.at(0).toTensor() * in.at(1).toDouble();
      },
      {torch::ones(2), 0.5});
  JT_CHECK(torch::equal(single.forward({torch::ones(2), 0.5}).toTensor(), torch::full({2}, 0.5)));
  JT_CHECK_THROWS(single.forward({torch::ones(2), 1.5}), torch::jit::JITException,
                  "argument_2=1.5");
}

// A manifest with every field a C++ program reads, and `extra` (members) at its end.
std::string manifest_json(const std::string& extra = "") {
  return R"({"format": "jittrace-manifest/1",
    "jittrace_version": "0.2.0", "torch_version": "2.13.0", "kind": "module",
    "options": {"strict": true, "respect_mode": true},
    "methods": {"forward": {"arguments": ["x", "flag"], "modes": ["train", "eval"],
                            "variants": [{"flag": "True"}, {"flag": "False"}], "outputs": []},
                "decode": {"arguments": [], "modes": [null], "variants": []}},
    "non_persistent_buffers": {"": ["ids"], "enc": ["inv_freq"]},
    "extra_files": ["notes.txt"])" +
         extra + "}";
}

void test_manifest() {
  auto m = jittrace::parse_manifest(manifest_json());
  JT_CHECK(m.kind == "module" && m.options.strict && m.options.respect_mode);
  JT_CHECK(m.methods.size() == 2 && m.methods[0].name == "forward");  // in the file's order
  JT_CHECK((m.methods[0].arguments == std::vector<std::string>{"x", "flag"}));
  JT_CHECK((m.methods[0].modes == std::vector<std::string>{"train", "eval"}));
  JT_CHECK(m.methods[0].variants.size() == 2 && m.methods[0].variants[1][0].second == "False");
  JT_CHECK((m.methods[1].modes == std::vector<std::string>{""}));  // null: a function's mode
  JT_CHECK((m.non_persistent_buffers == std::vector<std::string>{"ids", "enc.inv_freq"}));
  JT_CHECK((m.extra_files == std::vector<std::string>{"notes.txt"}));
  JT_CHECK(m.json == manifest_json());
  // Members jittrace does not read (Python's structures) may hold any JSON.
  JT_CHECK(jittrace::parse_manifest(manifest_json(R"(, "x": [1.5e3, -0.25, {"a": null}])"))
               .methods.size() == 2);

  JT_CHECK_THROWS(jittrace::parse_manifest("{\"format\": "), jittrace::InputError,
                  "[parse_manifest]: the manifest is not valid JSON (parse error at line 1, "
                  "column 12: syntax error while parsing value - unexpected end of input");
  JT_CHECK_THROWS(jittrace::parse_manifest(R"({"format": "jittrace-manifest/1"})"),
                  jittrace::InputError, "[parse_manifest]: the manifest has no 'jittrace_version'");
  JT_CHECK_THROWS(jittrace::read_manifest("/nonexistent/file.pt"), jittrace::InputError,
                  "[read_manifest] cannot read '/nonexistent/file.pt' as a TorchScript file");
  auto traced =
      jittrace::trace_function(unary([](torch::Tensor x) { return x; }), {torch::ones(1)});
  const std::string path = std::filesystem::temp_directory_path() / "jittrace_no_manifest.pt";
  traced.save(path);
  JT_CHECK(!jittrace::read_manifest(path).has_value());
  std::filesystem::remove(path);
}

// Text that is not JSON (RFC 8259), though C's strtod or a lenient reader would take it, and
// fields of the wrong type: an InputError that names the problem, never a crash.
void test_manifest_rejects_what_is_not_json() {
  const std::string not_json = "[parse_manifest]: the manifest is not valid JSON (parse error at ";
  for (const char* number :
       {"inf", "-inf", "Infinity", "NaN", "0x10", "0x1p3", "+1", ".5", "1.", "01", "1e"}) {
    JT_CHECK_THROWS(jittrace::parse_manifest(manifest_json(std::string(", \"x\": ") + number)),
                    jittrace::InputError, not_json);
  }
  JT_CHECK_THROWS(jittrace::parse_manifest(manifest_json() + " x"), jittrace::InputError,
                  "expected end of input");
  JT_CHECK_THROWS(jittrace::parse_manifest(manifest_json() + "{}"), jittrace::InputError,
                  "expected end of input");
  JT_CHECK_THROWS(jittrace::parse_manifest(manifest_json(", // comment\n")), jittrace::InputError,
                  not_json);
  JT_CHECK_THROWS(jittrace::parse_manifest(""), jittrace::InputError,
                  "attempting to parse an empty input");
  JT_CHECK_THROWS(jittrace::parse_manifest("\xEF\xBB\xBF" + manifest_json()), jittrace::InputError,
                  "[parse_manifest]: the manifest is not valid JSON (it starts with a byte order "
                  "mark)");
  // Not UTF-8: the message shows the byte escaped, so that it is valid text itself.
  JT_CHECK_THROWS(jittrace::parse_manifest(manifest_json(", \"x\": \"a\xFF\"")),
                  jittrace::InputError,
                  "invalid string: ill-formed UTF-8 byte; last read: '\"a\\xff'");
  JT_CHECK_THROWS(jittrace::parse_manifest(manifest_json(", \"x\": \"\\ud800\"")),
                  jittrace::InputError, not_json);  // a lone surrogate
  JT_CHECK_THROWS(jittrace::parse_manifest(std::string(100000, '[') + std::string(100000, ']')),
                  jittrace::InputError,
                  "[parse_manifest]: the manifest is an array; it must be an object");

  auto with = [](const std::string& from, const std::string& to) {
    std::string text = manifest_json();
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  const std::string has = "[parse_manifest]: the manifest has ";
  JT_CHECK_THROWS(jittrace::parse_manifest(with(R"("strict": true)", R"("strict": "yes")")),
                  jittrace::InputError,
                  has + "a string for 'options.strict'; it must be a boolean");
  JT_CHECK_THROWS(jittrace::parse_manifest(with(R"("kind": "module")", R"("kind": 1)")),
                  jittrace::InputError, has + "a number for 'kind'; it must be a string");
  JT_CHECK_THROWS(jittrace::parse_manifest(with(R"(["train", "eval"])", R"(["train", 1])")),
                  jittrace::InputError,
                  has + "a number for 'methods.forward.modes[1]'; it must be a string");
  JT_CHECK_THROWS(jittrace::parse_manifest(with(R"(["x", "flag"])", R"(["x", null])")),
                  jittrace::InputError,
                  has + "null for 'methods.forward.arguments[1]'; it must be a string");
  JT_CHECK_THROWS(jittrace::parse_manifest(with(R"({"flag": "True"})", R"(["True"])")),
                  jittrace::InputError,
                  has + "an array for 'methods.forward.variants[0]'; it must be an object");
  JT_CHECK_THROWS(jittrace::parse_manifest(with(R"({"flag": "False"})", R"({"flag": false})")),
                  jittrace::InputError,
                  has + "a boolean for 'methods.forward.variants[1].flag'; it must be a string");
  JT_CHECK_THROWS(jittrace::parse_manifest(with(R"("enc": ["inv_freq"])", R"("enc": "inv_freq")")),
                  jittrace::InputError,
                  has + "a string for 'non_persistent_buffers.enc'; it must be an array");
  JT_CHECK_THROWS(
      jittrace::parse_manifest(with(R"("extra_files": ["notes.txt"])", R"("extra_files": {})")),
      jittrace::InputError, has + "an object for 'extra_files'; it must be an array");
  JT_CHECK_THROWS(jittrace::parse_manifest("[1]"), jittrace::InputError,
                  "[parse_manifest]: the manifest is an array; it must be an object");
}

// Numbers are read the same whatever the C locale: a locale whose decimal point is a comma once
// made "1.5" unreadable. Skipped without such a locale (tests/test_cpp.py makes one).
void test_manifest_does_not_depend_on_the_locale() {
  const char* locale = nullptr;
  for (const char* name : {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"}) {
    if (std::setlocale(LC_NUMERIC, name)) {
      locale = name;
      break;
    }
  }
  if (!locale) {
    std::cout << "skipped: no de_DE or fr_FR locale for the locale test\n";
    return;
  }
  JT_CHECK(std::string(std::localeconv()->decimal_point) == ",");
  bool parsed = false;
  try {
    parsed = jittrace::parse_manifest(manifest_json(R"(, "x": [1.5, 2.5e-3])")).methods.size() == 2;
  } catch (const std::exception& e) {
    std::cerr << "unexpected exception: " << e.what() << "\n";
  }
  JT_CHECK(parsed);
  JT_CHECK_THROWS(jittrace::parse_manifest(manifest_json(R"(, "x": 1,5)")), jittrace::InputError,
                  "the manifest is not valid JSON");
  std::setlocale(LC_NUMERIC, "C");
}

}  // namespace

int main() {
  test_function();
  test_function_tuple_and_mixed_container();
  test_module_both_modes_and_shared_parameters();
  test_state_is_restored();
  test_respect_mode_false();
  test_bad_use();
  test_different_output_types_get_a_union_typed_forward();
  test_methods_in_order_with_argument_names();
  test_reassigned_parameters_are_put_back_and_in_place_changes_reported();
  test_threads();
  test_variants_dispatch_on_constant_arguments();
  test_manifest();
  test_manifest_rejects_what_is_not_json();
  test_manifest_does_not_depend_on_the_locale();
  return report();
}
