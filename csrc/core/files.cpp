// Saved files: a traced module or function written with jittrace's manifest (an extra file of
// JSON), and the manifest read back, also without loading the module.
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/import.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace {
namespace {

// ---- The manifest's fields ------------------------------------------------------------------

// Keeps the order of object members as written (the order of `methods` is the trace order).
using Json = nlohmann::ordered_json;
static_assert(NLOHMANN_JSON_VERSION_MAJOR == 3, "jittrace is written for nlohmann-json 3");

// "a string", "an object", "null": a JSON type as the errors name it.
std::string a_type(Json::value_t type) {
  const std::string name = Json(type).type_name();
  if (type == Json::value_t::null) return name;
  return (name[0] == 'a' || name[0] == 'o' ? "an " : "a ") + name;
}

// The fields of one manifest: each read checks its JSON type, and an error names the manifest
// (`where`: "[api] path") and the field ("methods.forward.modes[1]").
class Fields {
 public:
  explicit Fields(std::string where) : where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(where_ + ": the manifest " + what);
  }

  [[noreturn]] void invalid_json(const std::string& what) const {
    fail("is not valid JSON (" + what + ")");
  }

  const Json& member(const Json& object, const std::string& path, const std::string& key,
                     Json::value_t type) const {
    const auto found = object.find(key);
    if (found == object.end()) fail("has no '" + path + key + "'");
    expect(*found, path + key, type);
    return *found;
  }

  void expect(const Json& value, const std::string& path, Json::value_t type) const {
    if (value.type() != type) {
      fail("has " + a_type(value.type()) + " for '" + path + "'; it must be " + a_type(type));
    }
  }

  std::string string(const Json& object, const std::string& path, const std::string& key) const {
    return member(object, path, key, Json::value_t::string).get<std::string>();
  }

  bool boolean(const Json& object, const std::string& path, const std::string& key) const {
    return member(object, path, key, Json::value_t::boolean).get<bool>();
  }

  // An array of strings; with `null_is_empty`, a null item reads as "" (a function's one mode).
  std::vector<std::string> strings(const Json& object, const std::string& path,
                                   const std::string& key, bool null_is_empty = false) const {
    std::vector<std::string> out;
    const Json& array = member(object, path, key, Json::value_t::array);
    for (size_t i = 0; i < array.size(); ++i) {
      const Json& item = array[i];
      if (null_is_empty && item.is_null()) {
        out.emplace_back();
      } else {
        expect(item, path + key + "[" + std::to_string(i) + "]", Json::value_t::string);
        out.push_back(item.get<std::string>());
      }
    }
    return out;
  }

 private:
  std::string where_;
};

// `text` with every non-ASCII byte as `\xNN`: nlohmann-json quotes the bytes it read last,
// which need not be UTF-8, and an error message must be (Python decodes it).
std::string ascii(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80) {
      out += c;
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    }
  }
  return out;
}

// The manifest's JSON, parsed as RFC 8259 says (no NaN, infinities, hex or trailing text;
// strings in UTF-8), whatever the C locale.
Json parse_json(const std::string& text, const Fields& fields) {
  // nlohmann-json skips a byte order mark, which Python's json module (reading the same text
  // in jittrace.load) rejects: reject it here too, so that both read the same files.
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) fields.invalid_json("it starts with a byte order mark");
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    // what(): "[json.exception.parse_error.101] parse error at line 1, column 12: ...".
    std::string message = e.what();
    const auto id_end = message.find("] ");
    if (message.rfind("[json.exception.", 0) == 0 && id_end != std::string::npos) {
      message = message.substr(id_end + 2);
    }
    fields.invalid_json(ascii(message));
  }
}

Manifest parse(const std::string& text, const std::string& where) {
  const Fields fields(where);
  const Json root = parse_json(text, fields);
  if (!root.is_object()) fields.fail("is " + a_type(root.type()) + "; it must be an object");
  Manifest m;
  m.json = text;
  m.format = fields.string(root, "", "format");
  if (m.format.rfind("jittrace-manifest/", 0) != 0) {
    throw InputError(where + ": unknown manifest format '" + m.format + "'");
  }
  m.jittrace_version = fields.string(root, "", "jittrace_version");
  m.torch_version = fields.string(root, "", "torch_version");
  m.kind = fields.string(root, "", "kind");
  const Json& options = fields.member(root, "", "options", Json::value_t::object);
  m.options.strict = fields.boolean(options, "options.", "strict");
  m.options.respect_mode = fields.boolean(options, "options.", "respect_mode");
  for (const auto& [name, method] :
       fields.member(root, "", "methods", Json::value_t::object).items()) {
    const std::string path = "methods." + name + ".";
    fields.expect(method, "methods." + name, Json::value_t::object);
    Manifest::Method info;
    info.name = name;
    info.arguments = fields.strings(method, path, "arguments");
    info.modes = fields.strings(method, path, "modes", /*null_is_empty=*/true);
    const Json& variants = fields.member(method, path, "variants", Json::value_t::array);
    for (size_t i = 0; i < variants.size(); ++i) {
      const std::string at = path + "variants[" + std::to_string(i) + "]";
      fields.expect(variants[i], at, Json::value_t::object);
      std::vector<std::pair<std::string, std::string>> values;
      for (const auto& [argument, value] : variants[i].items()) {
        fields.expect(value, at + "." + argument, Json::value_t::string);
        values.emplace_back(argument, value.get<std::string>());
      }
      info.variants.push_back(std::move(values));
    }
    m.methods.push_back(std::move(info));
  }
  const Json& buffers = fields.member(root, "", "non_persistent_buffers", Json::value_t::object);
  for (const auto& [module, names] : buffers.items()) {
    for (const auto& name : fields.strings(buffers, "non_persistent_buffers.", module)) {
      m.non_persistent_buffers.push_back(module.empty() ? name : module + "." + name);
    }
  }
  m.extra_files = fields.strings(root, "", "extra_files");
  return m;
}

std::optional<std::string> read_record(const std::string& path, const std::string& name,
                                       const std::string& api) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const std::exception& e) {
    throw InputError("[" + api + "] cannot read '" + path +
                     "' as a TorchScript file: " + detail::message_of(e));
  }
  if (!reader->hasRecord(name)) return std::nullopt;
  auto [data, size] = reader->getRecord(name);
  return std::string(static_cast<const char*>(data.get()), size);
}

std::optional<Manifest> read_manifest_for(const std::string& path, const std::string& api) {
  auto json = read_record(path, std::string("extra/") + kManifestFile, api);
  if (!json) return std::nullopt;
  return parse(*json, "[" + api + "] " + path);
}

}  // namespace

std::optional<Manifest> read_manifest(const std::string& path) {
  return read_manifest_for(path, "read_manifest");
}

Manifest parse_manifest(const std::string& json) { return parse(json, "[parse_manifest]"); }

namespace detail {

void save(const torch::jit::Module& module, const std::string& path, const std::string& manifest,
          const ExtraFiles& extra_files) {
  parse(manifest, "[save]");  // what is written can be read back
  if (extra_files.count(kManifestFile)) {
    throw InputError(std::string("[save] the extra file name '") + kManifestFile +
                     "' is jittrace's own (its manifest); choose another name");
  }
  ExtraFiles files = extra_files;
  files[kManifestFile] = manifest;
  try {
    module.save(path, files);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError("[save] cannot write '" + path + "': " + message_of(e));
  }
}

torch::jit::Module function_module(const torch::jit::StrongFunctionPtr& function) {
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module module(c10::QualifiedName("__torch__.jittrace.TracedFunction"), cu);
  module.register_attribute("training", c10::BoolType::get(), true);
  // `forward` is the function's graph with `self` in front; the functions it calls (the
  // variants behind a dispatcher) are saved with it.
  auto& source = torch::jit::toGraphFunction(*function.function_);
  auto graph = source.graph()->copy();
  graph->insertInput(0, "self")->setType(module._ivalue()->type());
  // The schema keeps the function's argument names and defaults (the graph has neither).
  const auto& schema = source.getSchema();
  std::vector<c10::Argument> arguments{c10::Argument("self", module._ivalue()->type())};
  for (const auto& argument : schema.arguments()) arguments.push_back(argument);
  auto* forward =
      cu->create_function(c10::QualifiedName(*module.type()->name(), "forward"), std::move(graph));
  forward->setSchema(schema.cloneWithName("forward", "").cloneWithArguments(std::move(arguments)));
  module.type()->addMethod(forward);
  return module;
}

Loaded load(const std::string& path, const std::optional<c10::Device>& device) {
  auto manifest = read_manifest_for(path, "load");
  ExtraFiles extra;
  if (manifest) {
    for (const auto& name : manifest->extra_files) extra[name] = "";
  }
  Loaded loaded{{}, std::move(manifest), {}};
  try {
    loaded.module = torch::jit::load(path, device, extra);
  } catch (const std::exception& e) {
    throw InputError("[load] cannot load '" + path + "': " + message_of(e));
  }
  loaded.extra_files = std::move(extra);
  return loaded;
}

}  // namespace detail
}  // namespace jittrace
