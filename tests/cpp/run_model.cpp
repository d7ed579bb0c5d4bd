// run_model MODEL.pt INPUTS.pt OUTPUTS.pt [METHOD]
// Loads a TorchScript module with torch::jit::load, reads its inputs (a pickled tuple, as
// written by torch.save), runs METHOD (default `forward`) in eval mode and then in train mode
// under seed 0, and pickles (train_output, eval_output, train_flag_after_load) for torch.load.
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

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
    auto inputs = torch::pickle_load(bytes).toTupleRef().elements().vec();

    // Eval first: a train-mode forward updates batch-norm running statistics.
    const std::string method = argc == 5 ? argv[4] : "forward";
    module.eval();
    auto eval_out = module.get_method(method)(inputs);
    module.train();
    torch::manual_seed(0);
    auto train_out = module.get_method(method)(inputs);

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
