"""C++ round trips: Python traces loaded by torch::jit::load, the C++ API's own tests, and the
example program built as a downstream CMake project of the installed wheel."""

from __future__ import annotations

import subprocess
from pathlib import Path

import jittrace
import pytest
import torch
from jittrace import jit_trace
from torch import nn

pytestmark = pytest.mark.slow


def run_in_cpp(
    cpp_tests: Path,
    model: torch.jit.ScriptModule | torch.jit.ScriptFunction,
    inputs,
    tmp_path,
    method: str = "forward",
):
    """Saves `model`, runs `method` in C++ in eval then train mode (seed 0), returns outputs."""
    model_path, in_path, out_path = tmp_path / "model.pt", tmp_path / "in.pt", tmp_path / "out.pt"
    torch.jit.save(model, str(model_path))
    torch.save(tuple(inputs), str(in_path))
    subprocess.run(
        [str(cpp_tests / "run_model"), str(model_path), str(in_path), str(out_path), method],
        check=True,
        capture_output=True,
    )
    train_out, eval_out, loaded_training = torch.load(str(out_path))
    return train_out, eval_out, loaded_training


def test_core_library_does_not_link_python():
    lib = Path(jittrace.__file__).parent / "lib" / "libjittrace.so"
    dynamic = subprocess.run(
        ["readelf", "-d", str(lib)], capture_output=True, text=True, check=True
    ).stdout
    needed = [line for line in dynamic.splitlines() if "NEEDED" in line]
    assert any("libtorch_cpu" in line for line in needed)
    assert not any("torch_python" in line or "libpython" in line for line in needed), needed
    assert "$ORIGIN/../../torch/lib" in dynamic  # finds torch's libraries in the wheel layout


def test_wheel_installs_only_the_headers_a_cpp_program_calls():
    package = Path(jittrace.__file__).parent
    include = package / "include"
    headers = sorted(p.relative_to(include).as_posix() for p in include.rglob("*") if p.is_file())
    assert headers == ["jittrace/errors.h", "jittrace/export.h", "jittrace/jittrace.h"]
    for header in include.rglob("*.h"):  # none reaches for what is not shipped
        text = header.read_text()
        assert "detail.h" not in text and "nlohmann" not in text, header
    # The JSON library is private to libjittrace: not in its CMake interface, not exported.
    targets = (package / "share" / "cmake" / "jittrace" / "jittraceTargets.cmake").read_text()
    assert "nlohmann" not in targets and "csrc" not in targets
    lib = package / "lib" / "libjittrace.so"
    symbols = subprocess.run(
        ["nm", "-D", "-C", "--defined-only", str(lib)], capture_output=True, text=True, check=True
    ).stdout
    assert "jittrace::read_manifest" in symbols and "nlohmann" not in symbols


def test_cpp_api_tests_pass(cpp_tests, comma_locale):
    # With a decimal-comma locale (made if need be), the manifest's locale test runs too.
    result = subprocess.run(
        [str(cpp_tests / "test_core")], capture_output=True, text=True, env=comma_locale
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("passed, 0 failed")
    if comma_locale is not None:
        assert "skipped" not in result.stdout


def test_function_traced_in_python_runs_in_cpp(cpp_tests, tmp_path):
    def fn(x, y):
        return torch.relu(x) * y + 1

    x, y = torch.randn(5), torch.randn(5)
    train_out, eval_out, _ = run_in_cpp(cpp_tests, jit_trace(fn, x, y), (x, y), tmp_path)
    assert torch.equal(train_out, fn(x, y))
    assert torch.equal(eval_out, fn(x, y))


class AbsByMode(nn.Module):
    def forward(self, x):
        return x.abs() if self.training else -x.abs()


def test_modes_switch_in_cpp(cpp_tests, tmp_path):
    x = torch.tensor([-1.0, 2.0, -3.0])
    traced = jit_trace(AbsByMode().eval(), x)
    train_out, eval_out, loaded_training = run_in_cpp(cpp_tests, traced, (x,), tmp_path)
    assert torch.equal(train_out, x.abs())
    assert torch.equal(eval_out, -x.abs())
    assert loaded_training is False  # saved in eval mode, loads in eval mode


def test_dropout_and_batchnorm_module_matches_python_in_cpp(cpp_tests, tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(p=1.0), nn.Linear(8, 2)
    )
    x = torch.randn(4, 6)
    traced = jit_trace(net, x)
    train_out, eval_out, _ = run_in_cpp(cpp_tests, traced, (x,), tmp_path)
    net.eval()
    assert torch.allclose(eval_out, net(x), atol=1e-6)
    # p=1 dropout zeroes everything before the last layer: only its bias is left.
    assert torch.allclose(train_out, net[4].bias.expand(4, 2))


def test_mixed_container_function_runs_in_cpp(cpp_tests, tmp_path):
    def fn(items):
        x, (y, z) = items
        return x * y + z

    items = [torch.randn(3), [torch.randn(3), torch.randn(3)]]
    train_out, _, _ = run_in_cpp(cpp_tests, jit_trace(fn, items), (items,), tmp_path)
    assert torch.allclose(train_out, fn(items))


def test_modes_with_different_output_types_dispatch_in_cpp(cpp_tests, tmp_path):
    from test_modes import LossInTraining

    x = torch.tensor([1.0, 2.0])
    train_out, eval_out, _ = run_in_cpp(cpp_tests, jit_trace(LossInTraining(), x), (x,), tmp_path)
    assert type(train_out) is tuple and torch.equal(train_out[1], torch.tensor(3.0))
    assert type(eval_out) is torch.Tensor and torch.equal(eval_out, x)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
@pytest.mark.parametrize("name", ["dynamic-lstm", "static-conv"])
def test_quantized_modules_run_in_cpp(cpp_tests, tmp_path, name):
    import warnings

    from test_torch_parity import QUANTIZED

    build, example = {q[0]: q[1:] for q in QUANTIZED}[name]
    model, x = build(), example()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # scales become constants
        traced = jit_trace(model, x, respect_mode=False)
    _, eval_out, _ = run_in_cpp(cpp_tests, traced, (x,), tmp_path)
    assert torch.equal(eval_out, model(x))


def test_exported_methods_run_in_cpp(cpp_tests, tmp_path):
    from test_torch_parity import WithExports

    mod = WithExports()
    traced = jit_trace(mod, torch.randn(2, 4))
    x = torch.randn(5, 4)
    _, eval_out, _ = run_in_cpp(cpp_tests, traced, (x,), tmp_path, method="predict")
    assert torch.equal(eval_out, mod.predict(x))


def test_example_traces_in_cpp_and_loads_in_python(cpp_example, tmp_path):
    build_dir, seconds = cpp_example
    result = subprocess.run(
        [str(build_dir / "trace_net"), str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert "eval mode" in result.stdout
    loaded = torch.jit.load(str(tmp_path / "net.pt"))
    x, train_out, eval_out = torch.load(str(tmp_path / "net_io.pt"))
    assert sorted(loaded._c._method_names()) == ["evalforward", "forward", "trainforward"]
    assert [name for name, _ in loaded.named_parameters()][:2] == ["fc1.weight", "fc1.bias"]
    loaded.eval()
    assert torch.equal(loaded(x), eval_out)
    loaded.train()
    torch.manual_seed(1)  # the seed the example used: the same dropout mask
    assert torch.equal(loaded(x), train_out)
    assert not torch.equal(train_out, eval_out)
    print(f"example build: {seconds:.1f} s")


def test_variants_keywords_and_manifest_in_cpp(cpp_tests, tmp_path):
    from test_files import WithIds

    model = WithIds()
    x = torch.tensor([[1.0, -2.0]])
    traced = jit_trace(model, x, variants={"double": [False, True]})
    model_path, in_path, out_path = tmp_path / "m.pt", tmp_path / "in.pt", tmp_path / "out.pt"
    jittrace.save(traced, model_path, extra_files={"notes.txt": "v1"})
    torch.save({"args": (x,), "kwargs": {"double": True}}, str(in_path))  # a keyword call
    result = subprocess.run(
        [str(cpp_tests / "run_model"), str(model_path), str(in_path), str(out_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    train_out, eval_out, _ = torch.load(str(out_path))
    assert type(eval_out) is tuple  # the namedtuple's TorchScript form
    assert torch.equal(eval_out[0], model(x, double=True).logits)
    assert torch.equal(train_out[0], eval_out[0])  # no dropout in this model
    assert result.stdout.splitlines() == [
        "format jittrace-manifest/1",
        "kind module",
        "method forward(x, double) modes train,eval variants 2",
        "variant forward double=False",
        "variant forward double=True",
        "non_persistent ids",
        "extra notes.txt",
    ]
