// tg::Error: every user-facing misuse throws one, with a message naming the op and the values.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include <cstdint>
#include <ostream>
#include <vector>

namespace tg {

// Shapes print as [2, 3] in messages (defined in core/types.cpp).
std::ostream& operator<<(std::ostream& os, const std::vector<int64_t>& shape);

class Error : public std::runtime_error {
 public:
  // Which Python exception the error becomes: ValueError, TypeError, IndexError, RuntimeError.
  enum class Kind { Value, Type, Index, Runtime };
  Error(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

}  // namespace tg

// TG_CHECK(cond, Value, "matmul: shapes ", a, " and ", b, " cannot be multiplied")
#define TG_CHECK(cond, kind, ...)                                                       \
  do {                                                                                  \
    if (!(cond)) throw ::tg::Error(::tg::Error::Kind::kind, ::tg::detail::concat(__VA_ARGS__)); \
  } while (0)

#define TG_FAIL(kind, ...) throw ::tg::Error(::tg::Error::Kind::kind, ::tg::detail::concat(__VA_ARGS__))
