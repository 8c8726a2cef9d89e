#include "core/cka.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/parallel.hpp"

namespace clf {

namespace {

// Features per sgemm call. Each chunk's float Gram is added to the double total, so float rounding grows with
// 512 products per element at most, whatever d is. Fixed, so the result does not depend on the thread count.
constexpr size_t kGramChunk = 512;

/** Column means of X in double (zeros when not centring). */
std::vector<double> columnMeans(const float* X, size_t n, size_t d, bool centered) {
  std::vector<double> means(d, 0.0);
  if (!centered) return means;
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < d; ++k) means[k] += X[i * d + k];
  for (double& mean : means) mean /= static_cast<double>(n);
  return means;
}

/** One thread's rows [row0, row1) of the Gram's lower triangle and its scratch space. */
struct GramStrip {
  size_t row0, row1;
  std::vector<float> chunk;    // rows 0 .. row1-1 of the current feature chunk, centred
  std::vector<float> partial;  // the chunk's float Gram on rows [row0, row1) x columns [0, row1)
};

/**
 * K[row0:row1, 0:row1] += the Gram of each feature chunk of X~ in turn (float GEMM, added in double). Columns past
 * row1 are the upper triangle, which mirrorLower fills.
 */
void gramRows(const float* X, size_t d, const std::vector<double>& means, GramStrip& strip, size_t n, double* K) {
  size_t rows = strip.row1 - strip.row0, cols = strip.row1;
  for (size_t d0 = 0; d0 < d; d0 += kGramChunk) {
    size_t dc = std::min(kGramChunk, d - d0);
    for (size_t i = 0; i < cols; ++i)
      for (size_t k = 0; k < dc; ++k) strip.chunk[i * dc + k] = static_cast<float>(X[i * d + d0 + k] - means[d0 + k]);
    const float* mine = strip.chunk.data() + strip.row0 * dc;
    sgemm(Transpose::No, Transpose::Yes, rows, cols, dc, 1.0f, mine, dc, strip.chunk.data(), dc, 0.0f, strip.partial.data(), cols, 1);
    for (size_t r = 0; r < rows; ++r)
      for (size_t j = 0; j < cols; ++j) K[(strip.row0 + r) * n + j] += strip.partial[r * cols + j];
  }
}

/** Strips of the lower triangle with equal areas: strip p starts at row n sqrt(p / parts). */
std::vector<GramStrip> gramStrips(size_t n, size_t d, size_t parts) {
  std::vector<GramStrip> strips(parts);
  auto boundary = [&](size_t p) { return static_cast<size_t>(std::lround(n * std::sqrt(static_cast<double>(p) / parts))); };
  for (size_t p = 0; p < parts; ++p) {
    GramStrip& strip = strips[p];
    strip.row0 = boundary(p);
    strip.row1 = boundary(p + 1);
    strip.chunk.resize(strip.row1 * std::min(d, kGramChunk));
    strip.partial.resize((strip.row1 - strip.row0) * strip.row1);
  }
  return strips;
}

/** Copies the lower triangle onto the upper one. */
void mirrorLower(double* K, size_t n) {
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) K[i * n + j] = K[j * n + i];
}

/** K - rowmean - colmean + grandmean, in place, for a symmetric K; (r_i + r_j) keeps the result exactly symmetric. */
void doubleCentre(double* K, size_t n) {
  std::vector<double> rowMeans(n, 0.0);
  double grand = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) rowMeans[i] += K[i * n + j];
    rowMeans[i] /= static_cast<double>(n);
    grand += rowMeans[i];
  }
  grand /= static_cast<double>(n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) K[i * n + j] = K[i * n + j] - (rowMeans[i] + rowMeans[j]) + grand;
}

/** A centred Gram with what the HSIC of any pair needs, computed once per layer. */
struct PreparedGram {
  std::vector<double> K;        // centred; zero diagonal in the debiased form
  std::vector<double> rowSums;  // debiased only: K~ 1
  double total = 0;             // debiased only: 1^T K~ 1
  double self = 0;              // HSIC(K, K), the CKA normaliser squared
};

double frobeniusDot(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

/** Biased: <Ka, Kb>_F (the 1/(n-1)^2 factor cancels in CKA). Debiased: HSIC_1 (header formula). */
double hsic(const PreparedGram& a, const PreparedGram& b, size_t n, bool debiased) {
  double trace = frobeniusDot(a.K, b.K);  // tr(K L) = <K, L>_F for symmetric K, L
  if (!debiased) return trace;
  double nn = static_cast<double>(n);
  double middle = a.total * b.total / ((nn - 1) * (nn - 2));
  double last = 2.0 / (nn - 2) * frobeniusDot(a.rowSums, b.rowSums);  // 1^T K L 1 = (K 1).(L 1)
  return (trace + middle - last) / (nn * (nn - 3));
}

PreparedGram prepare(const double* K, size_t n, bool debiased) {
  PreparedGram gram;
  gram.K.assign(K, K + n * n);
  doubleCentre(gram.K.data(), n);
  if (debiased) {
    gram.rowSums.assign(n, 0.0);
    for (size_t i = 0; i < n; ++i) {
      gram.K[i * n + i] = 0;
      for (size_t j = 0; j < n; ++j) gram.rowSums[i] += gram.K[i * n + j];
      gram.total += gram.rowSums[i];
    }
  }
  gram.self = hsic(gram, gram, n, debiased);
  return gram;
}

double cka(const PreparedGram& a, const PreparedGram& b, size_t n, bool debiased) {
  if (!(a.self > 0 && b.self > 0)) return 0;  // a representation without variance aligns with nothing
  return hsic(a, b, n, debiased) / (std::sqrt(a.self) * std::sqrt(b.self));
}

void checkSamples(size_t n, bool debiased, const char* what) {
  if (n == 0) throw argError(std::string(what) + ": n (samples) must be positive");
  if (debiased && n <= 3) throw argError(std::string(what) + ": the debiased estimator needs n > 3 samples, got " + std::to_string(n));
}

}  // namespace

void gramMatrix(const float* X, size_t n, size_t d, bool centered, int threads, double* K) {
  if (n == 0 || d == 0) throw argError("gram: n and d must be positive");
  std::vector<double> means = columnMeans(X, n, d, centered);
  std::fill(K, K + n * n, 0.0);
  // One strip of rows per thread, each running its own single-threaded GEMMs: one fork and join in all, not one per
  // feature chunk. An entry does not depend on where the strips are cut, so neither does K.
  size_t parts = std::min<size_t>(resolveThreads(threads), (n + 11) / 12);
  std::vector<GramStrip> strips = gramStrips(n, d, parts);
  parallelFor(parts, static_cast<int>(parts), [&](size_t p) { gramRows(X, d, means, strips[p], n, K); });
  mirrorLower(K, n);
  if (centered) doubleCentre(K, n);
}

double linearCka(const float* X, const float* Y, size_t n, size_t dx, size_t dy, bool debiased, int threads) {
  checkSamples(n, debiased, "linearCka");
  std::vector<double> K(n * n), L(n * n);
  gramMatrix(X, n, dx, true, threads, K.data());
  gramMatrix(Y, n, dy, true, threads, L.data());
  return cka(prepare(K.data(), n, debiased), prepare(L.data(), n, debiased), n, debiased);
}

void ckaCostMatrix(const std::vector<const double*>& deep, const std::vector<const double*>& shallow, size_t n,
                   bool debiased, int threads, double* cost) {
  checkSamples(n, debiased, "ckaCostMatrix");
  int nt = resolveThreads(threads);
  size_t a = deep.size(), b = shallow.size();
  std::vector<PreparedGram> grams(a + b);
  parallelFor(a + b, nt, [&](size_t g) { grams[g] = prepare(g < a ? deep[g] : shallow[g - a], n, debiased); });
#pragma omp parallel for num_threads(nt) schedule(dynamic) collapse(2) if (nt > 1)
  for (size_t i = 0; i < a; ++i)
    for (size_t j = 0; j < b; ++j) cost[i * b + j] = 1.0 - cka(grams[i], grams[a + j], n, debiased);
}

}  // namespace clf
