// NumPy-2 scalar arithmetic for code that mixes float32 scalars, float64
// scalars and Python floats (NEP 50): a float32 combined with a Python float
// stays float32 (the Python float is rounded to float32 first), anything
// combined with a float64 becomes float64. Comparisons follow the same rule.
// Used where gymnasium's own code mixes them (MountainCarContinuous).
#pragma once

namespace fastrl::envs {

class NpScalar {
 public:
  enum class Kind { kPython, kFloat32, kFloat64 };

  static NpScalar Python(double v) { return {v, Kind::kPython}; }
  static NpScalar Float32(double v) { return {static_cast<float>(v), Kind::kFloat32}; }
  static NpScalar Float64(double v) { return {v, Kind::kFloat64}; }

  double value() const { return value_; }
  Kind kind() const { return kind_; }

  friend NpScalar operator+(NpScalar a, NpScalar b) {
    const Kind k = Promote(a, b);
    if (k == Kind::kFloat32) return {static_cast<float>(a.value_) + static_cast<float>(b.value_), k};
    return {a.value_ + b.value_, k};
  }
  friend NpScalar operator-(NpScalar a, NpScalar b) {
    const Kind k = Promote(a, b);
    if (k == Kind::kFloat32) return {static_cast<float>(a.value_) - static_cast<float>(b.value_), k};
    return {a.value_ - b.value_, k};
  }
  friend NpScalar operator*(NpScalar a, NpScalar b) {
    const Kind k = Promote(a, b);
    if (k == Kind::kFloat32) return {static_cast<float>(a.value_) * static_cast<float>(b.value_), k};
    return {a.value_ * b.value_, k};
  }
  friend bool operator<(NpScalar a, NpScalar b) {
    if (Promote(a, b) == Kind::kFloat32) return static_cast<float>(a.value_) < static_cast<float>(b.value_);
    return a.value_ < b.value_;
  }
  friend bool operator>(NpScalar a, NpScalar b) { return b < a; }
  friend bool operator>=(NpScalar a, NpScalar b) { return !(a < b); }
  friend bool operator==(NpScalar a, NpScalar b) {
    if (Promote(a, b) == Kind::kFloat32) return static_cast<float>(a.value_) == static_cast<float>(b.value_);
    return a.value_ == b.value_;
  }

 private:
  NpScalar(double v, Kind k) : value_(v), kind_(k) {}

  static Kind Promote(NpScalar a, NpScalar b) {
    if (a.kind_ == Kind::kFloat64 || b.kind_ == Kind::kFloat64) return Kind::kFloat64;
    if (a.kind_ == Kind::kFloat32 || b.kind_ == Kind::kFloat32) return Kind::kFloat32;
    return Kind::kPython;
  }

  double value_;
  Kind kind_;
};

}  // namespace fastrl::envs
