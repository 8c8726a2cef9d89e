// Errors thrown by the numeric core. The addon turns each into a JS Error whose `.code` is `code()`.
#pragma once
#include <stdexcept>
#include <string>

namespace clf {

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

/** A caller error the TypeScript layer should have caught: bad sizes, NaN, negative mass. */
inline Error argError(const std::string& message) { return Error("E_ARG", message); }
/** A solver that could not reach its stopping criterion within its limits. */
inline Error solverError(const std::string& message) { return Error("E_SOLVER", message); }

}  // namespace clf
