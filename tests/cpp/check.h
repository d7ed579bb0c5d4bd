// The checks of jittrace's C++ tests: each counts, and reports a failure without stopping the
// test. A test program ends with `return report();`.
#pragma once

#include <exception>
#include <iostream>
#include <string>
#include <typeinfo>

inline int failures = 0;
inline int checks = 0;

#define JT_CHECK(cond)                                                           \
  do {                                                                           \
    ++checks;                                                                    \
    if (!(cond)) {                                                               \
      ++failures;                                                                \
      std::cerr << __FILE__ << ":" << __LINE__ << ": check failed: " #cond "\n"; \
    }                                                                            \
  } while (0)

// Checks that `expr` throws exactly `Type` (not a subclass) whose message contains `text`.
#define JT_CHECK_THROWS(expr, Type, text)                                                          \
  do {                                                                                             \
    ++checks;                                                                                      \
    bool caught = false;                                                                           \
    try {                                                                                          \
      expr;                                                                                        \
    } catch (const Type& e) {                                                                      \
      caught = typeid(e) == typeid(Type) && std::string(e.what()).find(text) != std::string::npos; \
      if (!caught) std::cerr << "unexpected " << typeid(e).name() << ": " << e.what() << "\n";     \
    } catch (...) {                                                                                \
      try {                                                                                        \
        throw;                                                                                     \
      } catch (const std::exception& e) {                                                          \
        std::cerr << "unexpected exception: " << e.what() << "\n";                                 \
      } catch (...) {                                                                              \
      }                                                                                            \
    }                                                                                              \
    if (!caught) {                                                                                 \
      ++failures;                                                                                  \
      std::cerr << __FILE__ << ":" << __LINE__ << ": expected " #Type " with '" << (text)          \
                << "' from " #expr "\n";                                                           \
    }                                                                                              \
  } while (0)

// Prints the tally; the exit status of a test program.
inline int report() {
  std::cout << (checks - failures) << " passed, " << failures << " failed\n";
  return failures == 0 ? 0 : 1;
}
