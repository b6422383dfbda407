// sin and cos equal to glibc's sin()/cos() bit for bit, mostly without calling
// them.
//
// gymnasium's tasks call libm's sin/cos (math.sin, np.sin on a scalar), whose
// results are not always correctly rounded, so a different sin/cos, even a
// more accurate one, would break the bit-for-bit parity. Instead each value is
// computed to within a few hundredths of an ULP of the exact sine/cosine,
// rounded, and kept only when that rounded double is provably the one glibc
// returns; otherwise glibc itself is called.
//
// The proof. Since glibc 2.28 (sysdeps/ieee754/dbl-64/s_sin.c) sin and cos
// (and sincos, built from the same kernels) are documented with these maximum
// errors: sin 0.548 ULP and cos 0.51 ULP for |x| < 0.855469, and at most
// 0.518 ULP in every range above (about 0.55 ULP in the file's summary).
// Let f be the exact value, s the double nearest our estimate, and suppose
// |f - s| < (1 - E) ulp(s), E being glibc's error bound, with s not a power of
// two (so both neighbours of s are one ulp(s) away and f lies in s's binade).
// Every other double d is at least ulp(s) from s, hence more than E ulp from
// f, so glibc, which returns a double within E ulp of f, must return s. We
// know s and e = (estimate - s) exactly (Fast2Sum), and a bound D on
// |f - estimate|, so the test is |e| + D < (1 - E) ulp(s), with 1 - E rounded
// down: 0.45 for sin and 0.48 for cos.
//
// Where it applies: glibc >= 2.28 (older versions had other code paths and no
// such bounds; then, and off glibc, every value comes from libm) and
// 2^-20 < |x| <= 0.3: CartPole's angles (tiny arguments take glibc's x and 1.0
// shortcuts; larger ones would need more polynomial terms or a range
// reduction). About 12% of the sines and 4% of the cosines of CartPole's
// angles are not proven and come from libm (the sine's 0.548 ULP bound alone
// rejects a tenth); the tests measure it.
//
// Polynomial errors (u = 2^-53, |x| <= 0.3). sin x = x + t with t = x z S(z),
// z = x*x, S the Taylor series to x^13 (truncation < 2^-58 |t|). Rounding z,
// x*z, the Horner steps of S (the first coefficient -1/6 is itself rounded)
// and the last product gives |t_computed - t| < 5.2u |t| (the terms after
// -1/6 are below 1.5% of it, so their errors are scaled down); D uses 8u |t|.
// cos x = 1 - z/2 + z^2 C(z): z + zl = x*x exactly (Dekker's product), so
// 1 - z/2 - zl/2 is exact as a sum of doubles, and only q = z^2 C(z)
// (|q| <= 0.00034) carries a relative error, below 6u; D uses 8u |q| plus the
// rounding of the small tail sum (2u of it).
//
// The files that include this header are compiled with -ffp-contract=off, so
// no a*b+c below is fused (the error-free transformations rely on that).
#pragma once

#include <math.h>

#include <cstddef>
#include <cstdint>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 28))
#define FASTRL_EXACT_TRIG_FAST_PATH 1
#else
#define FASTRL_EXACT_TRIG_FAST_PATH 0
#endif

namespace fastrl::envs {

// Two doubles (and two 64-bit masks) per SSE2 operation (GCC/Clang vector
// extensions; x86-64's baseline instruction set).
using V2 = double __attribute__((vector_size(16)));
using V2i = long long __attribute__((vector_size(16)));

// Largest |x| the fast path handles.
constexpr double kSinCosFastMax = 0.3;

// The fast path on two arguments: sin and cos estimates, and per lane a mask
// (all ones) where the estimate is proven to be glibc's result.
struct SinCosPair {
  V2 sin;
  V2 cos;
  V2i sin_ok;
  V2i cos_ok;
};

namespace trig_detail {

inline V2 Abs(V2 v) {
  const V2i magnitude = {0x7FFFFFFFFFFFFFFFLL, 0x7FFFFFFFFFFFFFFFLL};
  return reinterpret_cast<V2>(reinterpret_cast<V2i>(v) & magnitude);
}

// Mask of the lanes where E + bound < tolerance * ulp(s) and s is not a power
// of two (whose lower neighbour is only half an ulp away). s is normal here.
inline V2i Proven(V2 s, V2 error, V2 bound, double tolerance) {
  const V2i bits = reinterpret_cast<V2i>(s);
  const V2i exponent = bits & 0x7FF0000000000000LL;
  const V2i mantissa = bits & 0x000FFFFFFFFFFFFFLL;
  const V2 ulp = reinterpret_cast<V2>(exponent - (52LL << 52));
  return (Abs(error) + bound < tolerance * ulp) & (mantissa != 0);
}

// Taylor coefficients, each a correctly rounded constant division. sin x =
// x + x z S(z), S = sum over n = 1..6 of (-1)^n z^(n-1)/(2n+1)!, and cos x =
// 1 - z/2 + z^2 C(z), C = sum over n = 2..7 of (-1)^n z^(n-2)/(2n)!, z = x*x.
// For |x| <= 0.3 the omitted terms are below 2^-58 of the sine's tail and
// 2^-70 of the cosine.
constexpr double kS0 = -1.0 / 6.0, kS1 = 1.0 / 120.0, kS2 = -1.0 / 5040.0, kS3 = 1.0 / 362880.0,
                 kS4 = -1.0 / 39916800.0, kS5 = 1.0 / 6227020800.0;
constexpr double kC0 = 1.0 / 24.0, kC1 = -1.0 / 720.0, kC2 = 1.0 / 40320.0, kC3 = -1.0 / 3628800.0,
                 kC4 = 1.0 / 479001600.0, kC5 = -1.0 / 87178291200.0;

}  // namespace trig_detail

inline SinCosPair SinCosFast(V2 x) {
  using namespace trig_detail;
  const V2 ax = Abs(x);
  const V2i in_range = (ax > 0x1p-20) & (ax <= kSinCosFastMax);  // false for NaN and inf
  const V2 z = x * x;
  // sin: x + t, t = x z S(z).
  const V2 ps = kS0 + z * (kS1 + z * (kS2 + z * (kS3 + z * (kS4 + z * kS5))));
  const V2 t = (x * z) * ps;
  const V2 s = x + t;
  const V2 es = t - (s - x);  // exact: |x| >= |t| (Fast2Sum)
  const V2 sin_bound = Abs(t) * 0x1p-50;
  // cos: 1 - z/2 - zl/2 + q, q = z^2 C(z), z + zl = x*x exactly (Veltkamp split
  // and Dekker's product).
  const V2 split = 134217729.0 * x;  // 2^27 + 1
  const V2 hi = split - (split - x);
  const V2 lo = x - hi;
  const V2 zl = ((hi * hi - z) + 2.0 * hi * lo) + lo * lo;
  const V2 pc = kC0 + z * (kC1 + z * (kC2 + z * (kC3 + z * (kC4 + z * kC5))));
  const V2 q = (z * z) * pc;
  const V2 a = -0.5 * z;  // exact
  const V2 s1 = 1.0 + a;
  const V2 e1 = (1.0 - s1) + a;  // exact (Fast2Sum)
  const V2 w = (e1 - 0.5 * zl) + q;
  const V2 c = s1 + w;
  const V2 ec = w - (c - s1);  // exact (Fast2Sum)
  const V2 cos_bound = Abs(q) * 0x1p-50 + Abs(w) * 0x1p-51;
  // Tolerances: 1 - E for glibc's bounds on |x| < 0.855469 (sin 0.548 ULP,
  // cos 0.51 ULP), rounded down.
  V2i sin_ok = in_range & Proven(s, es, sin_bound, 0.45);
  V2i cos_ok = in_range & Proven(c, ec, cos_bound, 0.48);
#if !FASTRL_EXACT_TRIG_FAST_PATH
  sin_ok = cos_ok = V2i{0, 0};  // no documented bounds to rely on: every value comes from libm
#endif
  return {s, c, sin_ok, cos_ok};
}

// sin(x[i]) and cos(x[i]) for i < n, exactly as glibc's sin() and cos()
// return them. The fast path runs over the whole batch first, without a
// branch on the data; the arguments it could not prove (about one in six on
// CartPole's angles) then go to libm. s and c may not overlap x.
inline void SinCosBatch(const double* x, double* s, double* c, std::size_t n) {
  constexpr std::size_t kBlock = 64;
  std::uint16_t fallback[kBlock];
  for (std::size_t begin = 0; begin < n; begin += kBlock) {
    const std::size_t end = begin + kBlock < n ? begin + kBlock : n;
    std::size_t num_fallback = 0;
    std::size_t i = begin;
    for (; i + 2 <= end; i += 2) {
      const SinCosPair r = SinCosFast(V2{x[i], x[i + 1]});
      s[i] = r.sin[0], s[i + 1] = r.sin[1];
      c[i] = r.cos[0], c[i + 1] = r.cos[1];
      // Appended without a branch: the index always, the count only if needed.
      fallback[num_fallback] = static_cast<std::uint16_t>(i - begin);
      num_fallback += (r.sin_ok[0] & r.cos_ok[0]) == 0;
      fallback[num_fallback] = static_cast<std::uint16_t>(i + 1 - begin);
      num_fallback += (r.sin_ok[1] & r.cos_ok[1]) == 0;
    }
    if (i < end) fallback[num_fallback++] = static_cast<std::uint16_t>(i - begin);  // odd n: the last one
    for (std::size_t k = 0; k < num_fallback; ++k) {
      const std::size_t j = begin + fallback[k];
#if defined(__GLIBC__)
      ::sincos(x[j], &s[j], &c[j]);  // glibc's sincos gives exactly sin() and cos()
#else
      s[j] = ::sin(x[j]);
      c[j] = ::cos(x[j]);
#endif
    }
  }
}

}  // namespace fastrl::envs
