// Tests of the core's guards (jittrace::detail::guard): each conversion kind gives the traced
// answer for inputs that take the traced path and raises naming the value for others; guards
// survive save/load; a parameter's guard follows its new value; values that do not depend on
// the inputs, or calls outside a trace, get none; bad arguments throw InputError.
#include <jittrace/detail.h>
#include <jittrace/jittrace.h>
#include <torch/csrc/jit/runtime/jit_exception.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"

namespace {

using jittrace::detail::Conversion;
using jittrace::detail::guard;
using torch::jit::JITException;

torch::jit::Module reload(const torch::jit::Module& m) {
  std::stringstream buffer;
  m.save(buffer);
  return torch::jit::load(buffer);
}

torch::Tensor run(torch::jit::Module m, const torch::Tensor& x) {
  return m.forward({x}).toTensor();
}

jittrace::Fn unary(std::function<torch::Tensor(torch::Tensor)> f) {
  return [f](std::vector<c10::IValue> in) -> c10::IValue { return f(in.at(0).toTensor()); };
}

int guards_added = 0;

// `if x.sum() > 0` in C++: the branch the trace takes, guarded.
torch::Tensor by_sign(torch::Tensor x) {
  auto positive = x.sum() > 0;
  const bool taken = positive.item<bool>();
  guards_added += guard(positive, Conversion::kBool, taken, "by_sign: got {actual}, not traced");
  return taken ? x * 2 : x - 1;
}

void test_bool() {
  guards_added = 0;
  auto m = jittrace::trace_function(unary(by_sign), {torch::ones({3})});
  JT_CHECK(guards_added == 1);
  JT_CHECK(torch::equal(run(m, torch::full({3}, 2.0)), torch::full({3}, 4.0)));
  JT_CHECK_THROWS(run(m, -torch::ones({3})), JITException, "by_sign: got False, not traced");
  auto loaded = reload(m);
  JT_CHECK(torch::equal(run(loaded, torch::ones({3})), torch::full({3}, 2.0)));
  JT_CHECK_THROWS(run(loaded, -torch::ones({3})), JITException, "by_sign: got False");
}

// int(x.size(0)) as a Python int would be: a 0-dim tensor of the traced size.
void test_int_and_message_without_placeholder() {
  auto m = jittrace::trace_function(unary([](torch::Tensor x) {
                                      auto n = x.sum().to(torch::kLong);
                                      guard(n, Conversion::kInt, n.item<int64_t>(), "n changed");
                                      return x * n.item<int64_t>();
                                    }),
                                    {torch::ones({3})});
  JT_CHECK(torch::equal(run(m, torch::tensor({1.0, 2.0, 0.0})), torch::tensor({3.0, 6.0, 0.0})));
  JT_CHECK_THROWS(run(m, torch::ones({4})), JITException, "n changed (got 4)");
}

void test_float_and_nan() {
  for (double traced : {0.5, std::nan("")}) {
    auto m = jittrace::trace_function(unary([](torch::Tensor x) {
                                        auto v = x.max();
                                        guard(v, Conversion::kFloat, v.item<double>(), "{actual}");
                                        return x;
                                      }),
                                      {torch::tensor({traced})});
    JT_CHECK(run(m, torch::tensor({traced})).defined());  // NaN gives NaN: no raise
    JT_CHECK_THROWS(run(m, torch::tensor({2.0})), JITException, "2.");
  }
}

void test_item_by_type() {
  // An integer tensor's item() is an int, a complex one's a complex.
  auto m = jittrace::trace_function(
      unary([](torch::Tensor x) {
        auto i = x.argmax();
        guard(i, Conversion::kItem, i.item<int64_t>(), "index {actual}");
        auto c = torch::complex(x.sum(), x.sum());
        guard(c, Conversion::kItem, c.item<c10::complex<double>>(), "complex {actual}");
        return x;
      }),
      {torch::tensor({0.0, 3.0, 1.0})});
  JT_CHECK(run(m, torch::tensor({1.0, 2.0, 1.0})).defined());
  JT_CHECK_THROWS(run(m, torch::tensor({5.0, 0.0, -1.0})), JITException, "index 0");
  JT_CHECK_THROWS(run(m, torch::tensor({1.0, 3.0, 1.0})), JITException, "complex");
}

// tolist() of a 2-dim tensor: its sizes and its elements, whatever its dtype (half here).
void test_tolist() {
  auto half = torch::tensor({{1.0, 2.0}, {3.0, 4.0}}, torch::kHalf);
  auto m = jittrace::trace_function(
      unary([](torch::Tensor x) {
        auto observed = c10::impl::GenericList(c10::AnyType::get());
        for (int64_t i = 0; i < x.size(0); ++i) {
          observed.push_back(c10::List<double>({x[i][0].item<double>(), x[i][1].item<double>()}));
        }
        guard(x, Conversion::kToList, observed, "was {actual}");
        return x * 2;
      }),
      {half});
  JT_CHECK(torch::equal(run(m, half), half * 2));
  JT_CHECK_THROWS(run(m, half + 1), JITException, "was [[2., 3.], [4., 5.]]");
  JT_CHECK_THROWS(run(m, half.reshape({4})), JITException, "was a tensor of size [4]");
  JT_CHECK_THROWS(run(m, half.reshape({1, 4})), JITException, "was [[1., 2., 3., 4.]]");
}

// len() and iteration check size(0) before the traced code unpacks the pieces.
void test_len_and_iter() {
  for (Conversion kind : {Conversion::kLen, Conversion::kIter}) {
    auto m = jittrace::trace_function(unary([kind](torch::Tensor x) {
                                        guard(x, kind, x.size(0), "pieces: {actual}");
                                        auto rows = x.unbind(0);
                                        return rows[0] + rows[rows.size() - 1];
                                      }),
                                      {torch::ones({3, 2})});
    JT_CHECK(torch::equal(run(m, torch::ones({3, 2})), torch::full({2}, 2.0)));
    JT_CHECK_THROWS(run(m, torch::ones({4, 2})), JITException, "pieces: 4");
  }
}

// __index__: a 0-dim integer tensor used as a size, here of the output.
void test_index() {
  auto m = jittrace::trace_function(unary([](torch::Tensor x) {
                                      auto n = x.sum().to(torch::kLong);
                                      const int64_t i = n.item<int64_t>();
                                      guard(n, Conversion::kIndex, i, "i: {actual}");
                                      return torch::zeros({i}) + x.sum();
                                    }),
                                    {torch::tensor({1.0, 1.0})});
  JT_CHECK(run(m, torch::tensor({0.0, 2.0})).size(0) == 2);
  JT_CHECK_THROWS(run(m, torch::tensor({0.0, 3.0})), JITException, "i: 3");
}

struct WeightedImpl : torch::nn::Module {
  WeightedImpl() : w(register_parameter("w", torch::ones({2}))) {}
  torch::Tensor forward(torch::Tensor x) { return by_sign(w) * x; }
  torch::Tensor w;
};
TORCH_MODULE(Weighted);

// A guard on a parameter reads it at call time: it follows values loaded later.
void test_parameter_guard_follows_new_weights() {
  Weighted net;
  auto traced = jittrace::trace_forward(net, torch::ones({2}));
  JT_CHECK(torch::equal(run(traced, torch::ones({2})), torch::full({2}, 2.0)));
  torch::NoGradGuard no_grad;
  traced.attr("w").toTensor().fill_(-1.0);
  JT_CHECK_THROWS(run(traced, torch::ones({2})), JITException, "by_sign: got False");
  JT_CHECK_THROWS(run(reload(traced), torch::ones({2})), JITException, "by_sign: got False");
}

// Values made from constants only are the same on every call: no guard, no change to the graph.
void test_no_guard_without_inputs() {
  guards_added = 0;
  bool added = true;
  auto m = jittrace::trace_function(unary([&](torch::Tensor x) {
                                      auto three = torch::tensor(3);
                                      added = guard(three, Conversion::kInt, int64_t{3}, "three");
                                      auto sum = torch::ones({2}).sum();
                                      added = added || guard(sum, Conversion::kFloat, 2.0, "sum");
                                      return x * 3;
                                    }),
                                    {torch::ones({2})});
  JT_CHECK(!added);
  auto plain =
      jittrace::trace_function(unary([](torch::Tensor x) { return x * 3; }), {torch::ones({2})});
  // The same nodes (value names aside).
  std::vector<std::string> kinds[2];
  for (int i = 0; i < 2; ++i) {
    for (const auto* node : (i ? plain : m).get_method("forward").graph()->nodes()) {
      kinds[i].push_back(node->kind().toQualString());
    }
  }
  JT_CHECK(kinds[0] == kinds[1] && kinds[0].size() == 2);
}

void test_outside_a_trace_and_bad_use() {
  const auto x = torch::ones({2});
  JT_CHECK(!guard(x.sum() > 0, Conversion::kBool, true, "no trace"));
  JT_CHECK_THROWS(guard(x.sum() > 0, Conversion::kBool, int64_t{1}, ""), jittrace::InputError,
                  "[guard] bool: the value observed must be a bool, not Int");
  JT_CHECK_THROWS(guard(torch::Tensor(), Conversion::kInt, int64_t{1}, ""), jittrace::InputError,
                  "the tensor is undefined");
  JT_CHECK_THROWS(guard(x.sum(), Conversion::kLen, int64_t{1}, ""), jittrace::InputError,
                  "a 0-dim tensor has no length");
  JT_CHECK_THROWS(guard(x, Conversion::kToList, c10::List<int64_t>({1, 1}), ""),
                  jittrace::InputError, "gives nested lists of 2 numbers, each a float");
  JT_CHECK_THROWS(jittrace::detail::conversion_named("complex"), jittrace::InputError,
                  "unknown conversion 'complex'; conversions: bool, int, float, item");
  JT_CHECK(jittrace::detail::conversion_named("iter") == Conversion::kIter);
  JT_CHECK(jittrace::detail::conversion_name(Conversion::kToList) == "tolist");
  // A bad call inside a trace throws as outside it, and leaves no tracing state behind.
  JT_CHECK_THROWS(jittrace::trace_function(unary([](torch::Tensor x) {
                                             guard(x, Conversion::kFloat, true, "");
                                             return x;
                                           }),
                                           {x}),
                  jittrace::InputError, "must be a float");
  JT_CHECK(torch::equal(run(jittrace::trace_function(unary(by_sign), {x}), x), x * 2));
}

}  // namespace

int main() {
  test_bool();
  test_int_and_message_without_placeholder();
  test_float_and_nan();
  test_item_by_type();
  test_tolist();
  test_len_and_iter();
  test_index();
  test_parameter_guard_follows_new_weights();
  test_no_guard_without_inputs();
  test_outside_a_trace_and_bad_use();
  return report();
}
