// Traces a C++-frontend network in train and eval mode, saves it as TorchScript, loads it back
// and shows that .train() / .eval() still switch its behaviour.
//   ./trace_net [OUTPUT_DIR]   writes OUTPUT_DIR/net.pt and OUTPUT_DIR/net_io.pt
#include <jittrace/jittrace.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <string>

struct NetImpl : torch::nn::Module {
  NetImpl()
      : fc1(register_module("fc1", torch::nn::Linear(8, 16))),
        bn(register_module("bn", torch::nn::BatchNorm1d(16))),
        drop(register_module("drop", torch::nn::Dropout(0.5))),
        fc2(register_module("fc2", torch::nn::Linear(16, 3))) {}

  torch::Tensor forward(torch::Tensor x) { return fc2(drop(torch::relu(bn(fc1(x))))); }

  torch::nn::Linear fc1;
  torch::nn::BatchNorm1d bn;
  torch::nn::Dropout drop;
  torch::nn::Linear fc2;
};
TORCH_MODULE(Net);

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  torch::manual_seed(0);
  Net net;
  torch::Tensor x = torch::randn({4, 8});

  // Traced in train mode (trainforward) and in eval mode (evalforward); `forward` picks one.
  torch::jit::Module traced = jittrace::trace_forward(net, x);
  traced.save(dir + "/net.pt");

  torch::jit::Module loaded = torch::jit::load(dir + "/net.pt");
  loaded.eval();
  torch::Tensor eval_out = loaded.forward({x}).toTensor();
  loaded.train();  // (a train-mode forward updates the batch-norm running statistics)
  torch::manual_seed(1);
  torch::Tensor train_out = loaded.forward({x}).toTensor();
  std::cout << "eval mode (running statistics, no dropout):\n"
            << eval_out << "\n"
            << "train mode (batch statistics, dropout):\n"
            << train_out << "\n";

  // The input and both outputs, for comparison from another program (torch.load reads it).
  auto io = torch::pickle_save(c10::ivalue::Tuple::create({x, train_out, eval_out}));
  std::ofstream(dir + "/net_io.pt", std::ios::binary).write(io.data(), io.size());
  std::cout << "saved " << dir << "/net.pt\n";
  return 0;
}
