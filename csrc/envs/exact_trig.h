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
#include <cstdlib>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 28))
#define FASTRL_EXACT_TRIG_FAST_PATH 1
#else
#define FASTRL_EXACT_TRIG_FAST_PATH 0
#endif

namespace fastrl::envs {

// Two doubles (and two 64-bit masks) per SSE2 operation (GCC/Clang vector
// extensions; x86-64's baseline instruction set), or four per AVX2 operation
// in the functions compiled for AVX2 (picked at run time, see HasAvx2()).
using V2 = double __attribute__((vector_size(16)));
using V2i = long long __attribute__((vector_size(16)));
using V4 = double __attribute__((vector_size(32)));
using V4i = long long __attribute__((vector_size(32)));

// The mask type of a vector of doubles.
template <class V>
struct MaskOf;
template <>
struct MaskOf<V2> {
  using type = V2i;
};
template <>
struct MaskOf<V4> {
  using type = V4i;
};
template <class V>
using Mask = typename MaskOf<V>::type;

// Largest |x| the fast path handles.
constexpr double kSinCosFastMax = 0.3;

// The fast path on one vector of arguments: sin and cos estimates, and per
// lane a mask (all ones) where the estimate is proven to be glibc's result.
template <class V>
struct SinCosLanes {
  V sin;
  V cos;
  Mask<V> sin_ok;
  Mask<V> cos_ok;
};
using SinCosPair = SinCosLanes<V2>;

// Whether this CPU runs AVX2 (then the batched passes take four lanes per
// operation instead of two). The build targets baseline x86-64 and FMA stays
// off in every path (-ffp-contract=off), so both paths round identically.
// Setting FASTRL_NO_AVX2=1 in the environment forces the SSE2 path (so tests
// cover it on AVX2 machines too).
inline bool HasAvx2() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = [] {
    const char* off = std::getenv("FASTRL_NO_AVX2");
    if (off != nullptr && off[0] != '\0' && off[0] != '0') return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
#else
  return false;
#endif
}

// Forced inline so that the AVX2 entry points get these bodies compiled for
// AVX2 (inlining into a function with a wider target is allowed). As they are
// never called out of line, GCC's note that passing V4 by value without AVX
// changes the calling convention does not apply; it is silenced here for the
// files that include this header (and vectors are passed by reference).
#define FASTRL_LANES_INLINE inline __attribute__((always_inline))
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace trig_detail {

template <class V>
FASTRL_LANES_INLINE V Abs(const V& v) {
  return reinterpret_cast<V>(reinterpret_cast<Mask<V>>(v) & 0x7FFFFFFFFFFFFFFFLL);
}

// Mask of the lanes where E + bound < tolerance * ulp(s) and s is not a power
// of two (whose lower neighbour is only half an ulp away). s is normal here.
template <class V>
FASTRL_LANES_INLINE Mask<V> Proven(const V& s, const V& error, const V& bound, double tolerance) {
  const Mask<V> bits = reinterpret_cast<Mask<V>>(s);
  const Mask<V> exponent = bits & 0x7FF0000000000000LL;
  const Mask<V> mantissa = bits & 0x000FFFFFFFFFFFFFLL;
  const V ulp = reinterpret_cast<V>(exponent - (52LL << 52));
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

template <class V>
FASTRL_LANES_INLINE SinCosLanes<V> SinCosFast(const V& x) {
  using namespace trig_detail;
  const V ax = Abs(x);
  const Mask<V> in_range = (ax > 0x1p-20) & (ax <= kSinCosFastMax);  // false for NaN and inf
  const V z = x * x;
  // sin: x + t, t = x z S(z).
  const V ps = kS0 + z * (kS1 + z * (kS2 + z * (kS3 + z * (kS4 + z * kS5))));
  const V t = (x * z) * ps;
  const V s = x + t;
  const V es = t - (s - x);  // exact: |x| >= |t| (Fast2Sum)
  const V sin_bound = Abs(t) * 0x1p-50;
  // cos: 1 - z/2 - zl/2 + q, q = z^2 C(z), z + zl = x*x exactly (Veltkamp split
  // and Dekker's product).
  const V split = 134217729.0 * x;  // 2^27 + 1
  const V hi = split - (split - x);
  const V lo = x - hi;
  const V zl = ((hi * hi - z) + 2.0 * hi * lo) + lo * lo;
  const V pc = kC0 + z * (kC1 + z * (kC2 + z * (kC3 + z * (kC4 + z * kC5))));
  const V q = (z * z) * pc;
  const V a = -0.5 * z;  // exact
  const V s1 = 1.0 + a;
  const V e1 = (1.0 - s1) + a;  // exact (Fast2Sum)
  const V w = (e1 - 0.5 * zl) + q;
  const V c = s1 + w;
  const V ec = w - (c - s1);  // exact (Fast2Sum)
  const V cos_bound = Abs(q) * 0x1p-50 + Abs(w) * 0x1p-51;
  // Tolerances: 1 - E for glibc's bounds on |x| < 0.855469 (sin 0.548 ULP,
  // cos 0.51 ULP), rounded down.
  Mask<V> sin_ok = in_range & Proven(s, es, sin_bound, 0.45);
  Mask<V> cos_ok = in_range & Proven(c, ec, cos_bound, 0.48);
#if !FASTRL_EXACT_TRIG_FAST_PATH
  sin_ok = cos_ok = Mask<V>{};  // no documented bounds to rely on: every value comes from libm
#endif
  return {s, c, sin_ok, cos_ok};
}

// sin(x[i]) and cos(x[i]) for i < n, exactly as glibc's sin() and cos()
// return them, with V's lanes. The fast path runs over the whole batch first,
// without a branch on the data; the arguments it could not prove (about one in
// six on CartPole's angles) then go to libm. s and c may not overlap x.
template <class V>
FASTRL_LANES_INLINE void SinCosBatchLanes(const double* x, double* s, double* c, std::size_t n) {
  constexpr std::size_t kLanes = sizeof(V) / sizeof(double);
  constexpr std::size_t kBlock = 64;
  std::uint16_t fallback[kBlock];
  for (std::size_t begin = 0; begin < n; begin += kBlock) {
    const std::size_t end = begin + kBlock < n ? begin + kBlock : n;
    std::size_t num_fallback = 0;
    std::size_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
      // __builtin_memcpy: a plain unaligned vector load/store even where
      // -fno-builtin turns memcpy into a library call.
      V xv;
      __builtin_memcpy(&xv, x + i, sizeof(V));
      const SinCosLanes<V> r = SinCosFast(xv);
      __builtin_memcpy(s + i, &r.sin, sizeof(V));
      __builtin_memcpy(c + i, &r.cos, sizeof(V));
      const Mask<V> ok = r.sin_ok & r.cos_ok;
      // Appended without a branch: the index always, the count only if needed.
      for (std::size_t l = 0; l < kLanes; ++l) {
        fallback[num_fallback] = static_cast<std::uint16_t>(i + l - begin);
        num_fallback += ok[l] == 0;
      }
    }
    for (; i < end; ++i) fallback[num_fallback++] = static_cast<std::uint16_t>(i - begin);  // the last few
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

inline void SinCosBatchSse2(const double* x, double* s, double* c, std::size_t n) { SinCosBatchLanes<V2>(x, s, c, n); }
__attribute__((target("avx2"))) inline void SinCosBatchAvx2(const double* x, double* s, double* c, std::size_t n) {
  SinCosBatchLanes<V4>(x, s, c, n);
}

// SinCosBatchLanes with the widest vectors this CPU runs.
inline void SinCosBatch(const double* x, double* s, double* c, std::size_t n) {
  if (HasAvx2()) {
    SinCosBatchAvx2(x, s, c, n);
  } else {
    SinCosBatchSse2(x, s, c, n);
  }
}

}  // namespace fastrl::envs
