// run_model MODEL.pt INPUTS.pt OUTPUTS.pt [METHOD]
// Loads a TorchScript module with torch::jit::load, reads its inputs (a pickled tuple of
// positional arguments, or a dict {"args": tuple, "kwargs": dict}, as written by torch.save),
// runs METHOD (default `forward`) in eval mode and then in train mode under seed 0, and pickles
// (train_output, eval_output, train_flag_after_load) for torch.load. When the file has a
// jittrace manifest, prints what jittrace::read_manifest reads of it.
#include <jittrace/jittrace.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

namespace {

// One line per fact: `kind module`, `method forward(x, mask) modes train,eval variants 2`,
// `variant forward mask=<tensor>`, `non_persistent encoder.position_ids`, `extra notes.txt`.
void print_manifest(const std::string& path) {
  auto manifest = jittrace::read_manifest(path);
  if (!manifest) return;
  std::cout << "format " << manifest->format << "\nkind " << manifest->kind << "\n";
  for (const auto& m : manifest->methods) {
    std::cout << "method " << m.name << "(";
    for (size_t i = 0; i < m.arguments.size(); ++i) std::cout << (i ? ", " : "") << m.arguments[i];
    std::cout << ") modes ";
    for (size_t i = 0; i < m.modes.size(); ++i) std::cout << (i ? "," : "") << m.modes[i];
    std::cout << " variants " << m.variants.size() << "\n";
    for (const auto& variant : m.variants) {
      std::cout << "variant " << m.name;
      for (const auto& [argument, value] : variant) std::cout << " " << argument << "=" << value;
      std::cout << "\n";
    }
  }
  for (const auto& name : manifest->non_persistent_buffers)
    std::cout << "non_persistent " << name << "\n";
  for (const auto& name : manifest->extra_files) std::cout << "extra " << name << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::cerr << "usage: run_model MODEL.pt INPUTS.pt OUTPUTS.pt [METHOD]\n";
    return 2;
  }
  try {
    torch::jit::Module module = torch::jit::load(argv[1]);
    const bool loaded_training = module.is_training();
    std::ifstream in(argv[2], std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto pickled = torch::pickle_load(bytes);
    std::vector<c10::IValue> inputs;
    torch::jit::Kwargs kwargs;
    if (pickled.isGenericDict()) {
      auto dict = pickled.toGenericDict();
      inputs = dict.at("args").toTupleRef().elements().vec();
      for (const auto& entry : dict.at("kwargs").toGenericDict()) {
        kwargs[entry.key().toStringRef()] = entry.value();
      }
    } else {
      inputs = pickled.toTupleRef().elements().vec();
    }
    print_manifest(argv[1]);

    // Eval first: a train-mode forward updates batch-norm running statistics.
    const std::string method = argc == 5 ? argv[4] : "forward";
    module.eval();
    auto eval_out = module.get_method(method)(inputs, kwargs);
    module.train();
    torch::manual_seed(0);
    auto train_out = module.get_method(method)(inputs, kwargs);

    auto result = c10::ivalue::Tuple::create({train_out, eval_out, loaded_training});
    auto data = torch::pickle_save(result);
    std::ofstream out(argv[3], std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "run_model: " << e.what() << "\n";
    return 1;
  }
}
