// Saved files: a traced module or function written with jittrace's manifest (an extra file of
// JSON), and the manifest read back, also without loading the module.
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/import.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "internal.h"

namespace jittrace {
namespace {

// ---- A small JSON reader, for the manifest ---------------------------------------------------

struct Json {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  const Json* find(const std::string& key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

class JsonParser {
 public:
  JsonParser(const std::string& text, std::string where) : text_(text), where_(std::move(where)) {}

  Json parse() {
    Json value = parse_value(0);
    skip_space();
    if (at_ != text_.size()) fail("unexpected text after the end");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(where_ + ": the manifest is not valid JSON (" + what + " at offset " +
                     std::to_string(at_) + ")");
  }

  void skip_space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\t' || text_[at_] == '\r')) {
      ++at_;
    }
  }

  bool take(const char* word) {
    const std::string w(word);
    if (text_.compare(at_, w.size(), w) != 0) return false;
    at_ += w.size();
    return true;
  }

  Json parse_value(int depth) {
    if (depth > 64) fail("nesting too deep");
    skip_space();
    if (at_ >= text_.size()) fail("unexpected end");
    Json value;
    const char c = text_[at_];
    if (c == '{') {
      value.kind = Json::Kind::Object;
      ++at_;
      skip_space();
      if (at_ < text_.size() && text_[at_] == '}') {
        ++at_;
        return value;
      }
      while (true) {
        skip_space();
        if (at_ >= text_.size() || text_[at_] != '"') fail("expected a key");
        std::string key = parse_string();
        skip_space();
        if (at_ >= text_.size() || text_[at_++] != ':') fail("expected ':'");
        value.members.emplace_back(std::move(key), parse_value(depth + 1));
        skip_space();
        if (at_ < text_.size() && text_[at_] == ',') {
          ++at_;
        } else if (at_ < text_.size() && text_[at_] == '}') {
          ++at_;
          return value;
        } else {
          fail("expected ',' or '}'");
        }
      }
    }
    if (c == '[') {
      value.kind = Json::Kind::Array;
      ++at_;
      skip_space();
      if (at_ < text_.size() && text_[at_] == ']') {
        ++at_;
        return value;
      }
      while (true) {
        value.items.push_back(parse_value(depth + 1));
        skip_space();
        if (at_ < text_.size() && text_[at_] == ',') {
          ++at_;
        } else if (at_ < text_.size() && text_[at_] == ']') {
          ++at_;
          return value;
        } else {
          fail("expected ',' or ']'");
        }
      }
    }
    if (c == '"') {
      value.kind = Json::Kind::String;
      value.string = parse_string();
      return value;
    }
    if (take("true") || take("false")) {
      value.kind = Json::Kind::Bool;
      value.boolean = text_[at_ - 1] == 'e' && text_.compare(at_ - 4, 4, "true") == 0;
      return value;
    }
    if (take("null")) return value;
    const char* begin = text_.c_str() + at_;
    char* end = nullptr;
    value.number = std::strtod(begin, &end);
    if (end == begin) fail("unexpected character");
    value.kind = Json::Kind::Number;
    at_ += static_cast<size_t>(end - begin);
    return value;
  }

  void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  unsigned parse_hex4() {
    if (at_ + 4 > text_.size()) fail("short \\u escape");
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[at_++];
      code <<= 4;
      if (h >= '0' && h <= '9') {
        code |= static_cast<unsigned>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        code |= static_cast<unsigned>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        code |= static_cast<unsigned>(h - 'A' + 10);
      } else {
        fail("bad \\u escape");
      }
    }
    return code;
  }

  std::string parse_string() {
    ++at_;  // the opening quote
    std::string out;
    while (true) {
      if (at_ >= text_.size()) fail("unterminated string");
      const char c = text_[at_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= text_.size()) fail("unterminated string");
      const char e = text_[at_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned code = parse_hex4();
          if (code >= 0xD800 && code < 0xDC00 && take("\\u")) {  // a surrogate pair
            code = 0x10000 + ((code - 0xD800) << 10) + (parse_hex4() - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default:
          fail("bad escape");
      }
    }
  }

  const std::string& text_;
  std::string where_;
  size_t at_ = 0;
};

// ---- The manifest's fields ------------------------------------------------------------------

class Fields {
 public:
  explicit Fields(std::string where) : where_(std::move(where)) {}

  const Json& member(const Json& object, const std::string& key, Json::Kind kind,
                     const std::string& path) const {
    const Json* value = object.kind == Json::Kind::Object ? object.find(key) : nullptr;
    if (!value || value->kind != kind) {
      throw InputError(where_ + ": the manifest has no valid '" + path + key + "'");
    }
    return *value;
  }

  std::string string(const Json& object, const std::string& key, const std::string& path) const {
    return member(object, key, Json::Kind::String, path).string;
  }

  std::vector<std::string> strings(const Json& array, const std::string& path) const {
    std::vector<std::string> out;
    for (const auto& item : array.items) {
      if (item.kind == Json::Kind::Null) {
        out.emplace_back();  // a function's one mode
      } else if (item.kind == Json::Kind::String) {
        out.push_back(item.string);
      } else {
        throw InputError(where_ + ": the manifest's '" + path + "' must hold strings");
      }
    }
    return out;
  }

 private:
  std::string where_;
};

Manifest parse(const std::string& json, const std::string& where) {
  const Json root = JsonParser(json, where).parse();
  const Fields fields(where);
  Manifest m;
  m.json = json;
  m.format = fields.string(root, "format", "");
  if (m.format.rfind("jittrace-manifest/", 0) != 0) {
    throw InputError(where + ": unknown manifest format '" + m.format + "'");
  }
  m.jittrace_version = fields.string(root, "jittrace_version", "");
  m.torch_version = fields.string(root, "torch_version", "");
  m.kind = fields.string(root, "kind", "");
  const Json& options = fields.member(root, "options", Json::Kind::Object, "");
  m.options.strict = fields.member(options, "strict", Json::Kind::Bool, "options.").boolean;
  m.options.respect_mode =
      fields.member(options, "respect_mode", Json::Kind::Bool, "options.").boolean;
  for (const auto& [name, method] :
       fields.member(root, "methods", Json::Kind::Object, "").members) {
    const std::string path = "methods." + name + ".";
    Manifest::Method info;
    info.name = name;
    info.arguments =
        fields.strings(fields.member(method, "arguments", Json::Kind::Array, path), path);
    info.modes = fields.strings(fields.member(method, "modes", Json::Kind::Array, path), path);
    for (const auto& variant : fields.member(method, "variants", Json::Kind::Array, path).items) {
      std::vector<std::pair<std::string, std::string>> values;
      for (const auto& [argument, value] : variant.members) {
        if (value.kind != Json::Kind::String) {
          throw InputError(where + ": the manifest's '" + path + "variants' must map to strings");
        }
        values.emplace_back(argument, value.string);
      }
      info.variants.push_back(std::move(values));
    }
    m.methods.push_back(std::move(info));
  }
  for (const auto& [module, names] :
       fields.member(root, "non_persistent_buffers", Json::Kind::Object, "").members) {
    for (const auto& name : fields.strings(names, "non_persistent_buffers")) {
      m.non_persistent_buffers.push_back(module.empty() ? name : module + "." + name);
    }
  }
  m.extra_files =
      fields.strings(fields.member(root, "extra_files", Json::Kind::Array, ""), "extra_files");
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
