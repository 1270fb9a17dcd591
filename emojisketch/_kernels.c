/* A prediction's hot loops in plain C: the drawing net's inference (the same numbers as
 * the torch embedder of emojisketch/model.py, batch norm folded into the convolutions, to
 * about 1e-7), and the ink pipeline's simplification and rasteriser (emojisketch/ink.py's
 * numpy code step for step, the same numbers to the bit). For one drawing on one core
 * they are several times faster than torch and numpy.
 *
 * Why C: at batch 1 torch runs each small convolution through im2col and a matrix
 * product, and the copies and per-layer costs take more time than the arithmetic. Here
 * each convolution works on channels-last, zero-bordered feature maps: a tile of 4 output
 * pixels (or blocks) x up to 24 output channels is kept in vector registers while the
 * input channels stream past, and bias and ReLU are applied before it is stored once. The
 * first convolution and the 1x1 one are direct loops; the other 3x3 ones use Winograd's
 * minimal filtering, which needs less than half the products. Pooling, the projection, L2
 * normalisation and the pooled features (emojisketch/net.py, DrawingNet.features) follow
 * in the same call.
 *
 * Loaded through ctypes (emojisketch/native.py); it is a Python extension only so that
 * setuptools builds it. GCC / clang vector extensions keep it portable; on x86-64 the
 * hot loop is also compiled for AVX2+FMA and picked at run time.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));  /* unaligned access */
typedef int v8i __attribute__((vector_size(32)));

#define LOAD(p) (*(const v8u *)(p))
#define STORE(p, v) (*(v8u *)(p) = (v))

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

/* acc[p][j] += sum over c of x[p * cin + c] * w[c * cout + 8 * j ...]: PX rows of x (pixels
 * or blocks, cin apart) times 8 * NB columns of w, the tile kept in registers. */
#define ACCUMULATE(PX, NB, x, w, cin, cout)                                                \
    for (int c = 0; c < (cin); c++, (w) += (cout)) {                                       \
        v8 wv[NB];                                                                         \
        for (int j = 0; j < NB; j++) wv[j] = LOAD((w) + 8 * j);                            \
        for (int p = 0; p < PX; p++) {                                                     \
            float a = (x)[p * (cin) + c];                                                  \
            for (int j = 0; j < NB; j++) acc[p][j] += wv[j] * a;                           \
        }                                                                                  \
    }

/* One tile: PX output pixels of row y from column x, output channels c0 .. c0 + 8*NB. */
#define TILE(PX, NB)                                                                       \
    static inline __attribute__((always_inline)) void tile_##PX##_##NB(                    \
        const float *in, int pitch, int cin, int k, int o, const float *w, int cout,       \
        const float *b, float *out, int y, int x, int c0)                                  \
    {                                                                                      \
        v8 acc[PX][NB];                                                                    \
        for (int j = 0; j < NB; j++) {                                                     \
            v8 bj = LOAD(b + c0 + 8 * j);                                                  \
            for (int p = 0; p < PX; p++) acc[p][j] = bj;                                   \
        }                                                                                  \
        for (int ky = 0; ky < k; ky++)                                                     \
            for (int kx = 0; kx < k; kx++) {                                               \
                const float *ip = in + ((y + ky + o) * pitch + (x + kx + o)) * cin;        \
                const float *wp = w + (ky * k + kx) * cin * cout + c0;                     \
                ACCUMULATE(PX, NB, ip, wp, cin, cout);                                     \
            }                                                                              \
        const v8 zero = {0};                                                               \
        for (int p = 0; p < PX; p++) {                                                     \
            float *op = out + ((y + 1) * pitch + (x + p + 1)) * cout + c0;                 \
            for (int j = 0; j < NB; j++) {                                                 \
                v8i pos = acc[p][j] > zero;                                                \
                STORE(op + 8 * j, (v8)((v8i)acc[p][j] & pos));                             \
            }                                                                              \
        }                                                                                  \
    }

TILE(4, 3)
TILE(4, 2)
TILE(4, 1)
TILE(1, 3)
TILE(1, 2)
TILE(1, 1)

/* Zero the one-pixel border of a (h+2) x (w+2) x c map: the convolutions' padding. */
static void zero_border(float *m, int h, int w, int c)
{
    int pitch = w + 2;
    memset(m, 0, sizeof(float) * pitch * c);
    memset(m + (h + 1) * pitch * c, 0, sizeof(float) * pitch * c);
    for (int y = 1; y <= h; y++) {
        memset(m + (y * pitch) * c, 0, sizeof(float) * c);
        memset(m + (y * pitch + w + 1) * c, 0, sizeof(float) * c);
    }
}

/* ReLU(conv(in) + b) of an h x w map, 'same' padding; cout a multiple of 8. Weights are
 * laid out [ky][kx][cin][cout]; both maps are bordered. */
CLONES static void conv_relu(const float *in, int h, int wd, int cin, float *out, int cout,
                             int k, const float *w, const float *b)
{
    int pitch = wd + 2, o = 1 - k / 2;
    zero_border(out, h, wd, cout);
    /* Output channels outermost: one block's weights (9 x cin x 24 floats) stay in cache
     * while every pixel passes, so the weights come from memory once a call. */
#define ALL_PIXELS(NB)                                                                     \
    for (int y = 0; y < h; y++) {                                                          \
        int x = 0;                                                                         \
        for (; x + 4 <= wd; x += 4) tile_4_##NB(in, pitch, cin, k, o, w, cout, b, out, y, x, c0); \
        for (; x < wd; x++) tile_1_##NB(in, pitch, cin, k, o, w, cout, b, out, y, x, c0);  \
    }
    int c0 = 0;
    for (; c0 + 24 <= cout; c0 += 24) ALL_PIXELS(3)
    for (; c0 + 16 <= cout; c0 += 16) ALL_PIXELS(2)
    for (; c0 + 8 <= cout; c0 += 8) ALL_PIXELS(1)
#undef ALL_PIXELS
}

/* -- the same for a 3x3 convolution by Winograd's minimal filtering (Lavin and Gray) ----
 *
 * F(m x m, 3x3) computes each m x m block of outputs from an (m + 2) x (m + 2) block of
 * inputs d: Y = A^T [(G g G^T) . (B^T d B)] A, summed over input channels. With t = (m + 2)^2
 * places, the sum over channels is t matrix products of (blocks x cin) by (cin x cout):
 * 16 products per channel pair instead of 36 at m = 2, the one used here (m = 4 needs 36
 * instead of 144, but its transformed weights are 4 times the plain ones: on this project's
 * machine the whole net was 7-10% slower with it, so it was taken out). U holds
 * the transformed weights G g G^T, laid out [t][cin][cout]; V (t x blocks x cin) and M
 * (t x blocks x cout) are scratch for the whole map, so that U is read once a call (it is
 * larger than the plain weights, and on the 7x7 maps fetching it is most of the cost).
 * cin and cout are multiples of 8; blocks past the map's edge read zeros and store nothing. */
#define WTILE(PX, NB)                                                                      \
    static inline __attribute__((always_inline)) void wtile_##PX##_##NB(                   \
        const float *V, int cin, const float *U, int cout, float *M, int t, int c0)        \
    {                                                                                      \
        v8 acc[PX][NB];                                                                    \
        for (int p = 0; p < PX; p++)                                                       \
            for (int j = 0; j < NB; j++) acc[p][j] = (v8){0};                              \
        const float *vp = V + t * cin, *up = U + c0;                                       \
        ACCUMULATE(PX, NB, vp, up, cin, cout);                                             \
        for (int p = 0; p < PX; p++)                                                       \
            for (int j = 0; j < NB; j++) STORE(M + (t + p) * cout + c0 + 8 * j, acc[p][j]); \
    }

WTILE(4, 3)
WTILE(4, 2)
WTILE(4, 1)
WTILE(1, 3)
WTILE(1, 2)
WTILE(1, 1)

/* M[x] = V[x] U[x] for each of the t places x. */
CLONES static void winograd_products(int t, int nt, const float *V, int cin, const float *U,
                                     int cout, float *M)
{
    for (int xi = 0; xi < t; xi++) {
        const float *Vx = V + (long)xi * nt * cin, *Ux = U + (long)xi * cin * cout;
        float *Mx = M + (long)xi * nt * cout;
        int c0 = 0;
#define ALL_BLOCKS(NB)                                                                     \
        {                                                                                  \
            int b = 0;                                                                     \
            for (; b + 4 <= nt; b += 4) wtile_4_##NB(Vx, cin, Ux, cout, Mx, b, c0);        \
            for (; b < nt; b++) wtile_1_##NB(Vx, cin, Ux, cout, Mx, b, c0);                \
        }
        for (; c0 + 24 <= cout; c0 += 24) ALL_BLOCKS(3)
        for (; c0 + 16 <= cout; c0 += 16) ALL_BLOCKS(2)
        for (; c0 + 8 <= cout; c0 += 8) ALL_BLOCKS(1)
#undef ALL_BLOCKS
    }
}

/* B^T and A^T of F(2x2, 3x3), applied to 4 vectors s apart. */
#define BT4(o, d, s)                                                                       \
    do {                                                                                   \
        o[0 * s] = d[0 * s] - d[2 * s];                                                    \
        o[1 * s] = d[1 * s] + d[2 * s];                                                    \
        o[2 * s] = d[2 * s] - d[1 * s];                                                    \
        o[3 * s] = d[1 * s] - d[3 * s];                                                    \
    } while (0)
#define AT4(o, m, s)                                                                       \
    do {                                                                                   \
        o[0 * s] = m[0 * s] + m[1 * s] + m[2 * s];                                         \
        o[1 * s] = m[1 * s] - m[2 * s] - m[3 * s];                                         \
    } while (0)

/* One Winograd F(2x2, 3x3) convolution + bias + ReLU (M_: the output block side). */
CLONES static void conv3_winograd(const float *in, int h, int wd, int cin, float *out,
                                  int cout, const float *U, const float *b, float *V, float *M)
{
    enum { M_ = 2, N = M_ + 2, T = N * N };
    int pitch = wd + 2, nty = (h + M_ - 1) / M_, ntx = (wd + M_ - 1) / M_;
    int nt = nty * ntx;
    const v8 zero = {0};
    zero_border(out, h, wd, cout);
    for (int ty = 0; ty < nty; ty++)
        for (int tx = 0; tx < ntx; tx++)
            for (int c = 0; c < cin; c += 8) {
                v8 d[T], r[T], q[T];
                for (int i = 0; i < N; i++)
                    for (int j = 0; j < N; j++) {
                        int y = M_ * ty + i, x = M_ * tx + j; /* bordered */
                        d[i * N + j] = (y < h + 2 && x < wd + 2)
                            ? LOAD(in + (y * pitch + x) * cin + c) : zero;
                    }
                for (int j = 0; j < N; j++) BT4((r + j), (d + j), N);   /* B^T d */
                for (int i = 0; i < N; i++) BT4((q + N * i), (r + N * i), 1); /* . B */
                float *vp = V + (long)(ty * ntx + tx) * cin + c;
                for (int k = 0; k < T; k++) STORE(vp + (long)k * nt * cin, q[k]);
            }
    winograd_products(T, nt, V, cin, U, cout, M);
    for (int ty = 0; ty < nty; ty++)
        for (int tx = 0; tx < ntx; tx++)
            for (int c = 0; c < cout; c += 8) {
                v8 m[T], sm[M_ * N], y[M_ * M_], bias = LOAD(b + c);
                const float *mp = M + (long)(ty * ntx + tx) * cout + c;
                for (int k = 0; k < T; k++) m[k] = LOAD(mp + (long)k * nt * cout);
                for (int j = 0; j < N; j++) AT4((sm + j), (m + j), N);    /* A^T m */
                for (int i = 0; i < M_; i++) AT4((y + M_ * i), (sm + N * i), 1); /* A */
                for (int i = 0; i < M_; i++)
                    for (int j = 0; j < M_; j++) {
                        int oy = M_ * ty + i, ox = M_ * tx + j;
                        if (oy >= h || ox >= wd) continue;
                        v8 v = y[M_ * i + j] + bias;
                        v8i pos = v > zero;
                        STORE(out + ((oy + 1) * pitch + ox + 1) * cout + c,
                              (v8)((v8i)v & pos));
                    }
            }
}

/* 2x2 max pool (floor, as torch's max_pool2d) of a bordered h x w x c map into a bordered
 * (h/2) x (w/2) x c map. */
static void max_pool(const float *in, int h, int w, int c, float *out)
{
    int ho = h / 2, wo = w / 2, pi = w + 2, po = wo + 2;
    zero_border(out, ho, wo, c);
    for (int y = 0; y < ho; y++)
        for (int x = 0; x < wo; x++) {
            const float *a = in + ((2 * y + 1) * pi + 2 * x + 1) * c, *bq = a + c;
            const float *cq = a + pi * c, *d = cq + c;
            float *op = out + ((y + 1) * po + x + 1) * c;
            for (int i = 0; i < c; i++) {
                float m = a[i] > bq[i] ? a[i] : bq[i];
                float n = cq[i] > d[i] ? cq[i] : d[i];
                op[i] = m > n ? m : n;
            }
        }
}

static void normalize(float *v, int n, float scale)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    double norm = sqrt(s);
    float f = (float)(scale / (norm > 1e-12 ? norm : 1e-12));
    for (int i = 0; i < n; i++) v[i] *= f;
}

/* Embed n images of side x side pixels (row-major floats in [0, 1]).
 *
 * layers: for each of n_layers convolutions, {cin, cout, k, pool, winograd (0 or 2)};
 * weights[i] and biases[i] its folded weights, [k][k][cin][cout], or for Winograd G g G^T
 * as [16][cin][cout], and bias. proj_w is embed_dim x pooled_dim (row major),
 * proj_b embed_dim. work holds two maps of work_floats each; scratch (scratch_floats) the
 * Winograd layers' transformed blocks. out gets n rows of embed_dim (+ pooled_dim when
 * pooled) floats: DrawingNet.features.
 * Returns 0, or -1 when a layer's shape is not one this kernel handles.
 */
int es_embed(int n, int side, const float *images, int n_layers, const int *layers,
             const float *const *weights, const float *const *biases, int embed_dim,
             const float *proj_w, const float *proj_b, int pooled, float *work,
             long work_floats, float *scratch, long scratch_floats, float *out)
{
    float *a = work, *bm = work + work_floats;
    int pooled_dim = layers[5 * (n_layers - 1) + 1];
    int row = embed_dim + (pooled ? pooled_dim : 0);
    for (int i = 0; i < n_layers; i++) {
        const int *L = layers + 5 * i;
        if (L[1] % 8 || (L[2] != 1 && L[2] != 3)) return -1;
        if (L[4] && (L[2] != 3 || L[0] % 8 || L[4] != 2)) return -1;
    }
    for (int img = 0; img < n; img++) {
        const float *src = images + (long)img * side * side;
        int h = side, w = side, c = 1;
        if ((long)(h + 2) * (w + 2) > work_floats) return -1;
        zero_border(a, h, w, 1);
        for (int y = 0; y < h; y++) memcpy(a + (y + 1) * (w + 2) + 1, src + y * w, sizeof(float) * w);
        for (int i = 0; i < n_layers; i++) {
            const int *L = layers + 5 * i;
            if (L[0] != c || (long)(h + 2) * (w + 2) * L[1] > work_floats) return -1;
            if (L[4]) {
                long all = 16L * ((h + 1) / 2) * ((w + 1) / 2);
                if (all * (c + L[1]) > scratch_floats) return -1;
                conv3_winograd(a, h, w, c, bm, L[1], weights[i], biases[i], scratch,
                               scratch + all * c);
            } else {
                conv_relu(a, h, w, c, bm, L[1], L[2], weights[i], biases[i]);
            }
            c = L[1];
            if (L[3]) {
                max_pool(bm, h, w, c, a);
                h /= 2;
                w /= 2;
            } else {
                float *t = a; a = bm; bm = t;
            }
        }
        /* global average pool of the bordered map in a */
        float *o = out + (long)img * row;
        float *p = pooled ? o + embed_dim : bm;  /* bm is free scratch now */
        for (int j = 0; j < c; j++) p[j] = 0;
        for (int y = 1; y <= h; y++)
            for (int x = 1; x <= w; x++) {
                const float *q = a + (y * (w + 2) + x) * c;
                for (int j = 0; j < c; j++) p[j] += q[j];
            }
        float inv = 1.0f / (h * w);
        for (int j = 0; j < c; j++) p[j] *= inv;
        for (int e = 0; e < embed_dim; e++) {
            const float *wr = proj_w + (long)e * c;
            float s = proj_b[e];
            for (int j = 0; j < c; j++) s += wr[j] * p[j];
            o[e] = s;
        }
        if (pooled) {
            const float half = (float)sqrt(0.5);
            normalize(o, embed_dim, half);
            for (int j = 0; j < c; j++) p[j] = p[j] > 0 ? sqrtf(p[j]) : 0;
            normalize(p, c, half);
        } else {
            normalize(o, embed_dim, 1.0);
        }
    }
    return 0;
}

/* -- the ink pipeline: emojisketch/ink.py's normalize and rasterize, step for step -------
 *
 * These must give numpy's numbers to the bit (tests/test_native.py), so no product may be
 * fused into a multiply-add here, as compilers do by default on CPUs that have one. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

#include <stdlib.h>

/* The bounding box of n (x, y) points: numpy's points.min(axis=0) and max(axis=0). */
typedef struct { double lox, loy, hix, hiy; } box;

static box bounds(long n, const double *points)
{
    box b = {INFINITY, INFINITY, -INFINITY, -INFINITY};
    for (long i = 0; i < n; i++) {
        double x = points[2 * i], y = points[2 * i + 1];
        b.lox = x < b.lox ? x : b.lox; b.hix = x > b.hix ? x : b.hix;
        b.loy = y < b.loy ? y : b.loy; b.hiy = y > b.hiy ? y : b.hiy;
    }
    return b;
}

/* The longer side of a box. */
static double span(box b) { return (b.hix - b.lox) > (b.hiy - b.loy) ? (b.hix - b.lox) : (b.hiy - b.loy); }

/* numpy.interp(x, xp, fp) for sorted xp of n >= 2 values (numpy's arr_interp). */
static double interp(double x, const double *xp, const double *fp, long n)
{
    if (x > xp[n - 1]) return fp[n - 1];
    if (x < xp[0]) return fp[0];
    long lo = 0, hi = n;  /* the last j with xp[j] <= x */
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (x >= xp[mid]) lo = mid + 1; else hi = mid;
    }
    long j = lo - 1;
    if (j == n - 1 || xp[j] == x) return fp[j];
    double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    double r = slope * (x - xp[j]) + fp[j];
    if (isnan(r)) {
        r = slope * (x - xp[j + 1]) + fp[j + 1];
        if (isnan(r) && fp[j] == fp[j + 1]) r = fp[j];
    }
    return r;
}

/* ink._resample(points, 1.0, corners=True): the 1-pixel resampling's points that RDP could
 * keep. px, py: the stroke's n points; out gets x, y pairs; returns how many. arc is
 * scratch of n doubles. */
static long resample_corners(const double *px, const double *py, long n, double *arc,
                             double *out)
{
    if (n < 2) {
        for (long i = 0; i < n; i++) { out[2 * i] = px[i]; out[2 * i + 1] = py[i]; }
        return n;
    }
    arc[0] = 0.0;
    for (long i = 1; i < n; i++) arc[i] = arc[i - 1] + hypot(px[i] - px[i - 1], py[i] - py[i - 1]);
    double total = arc[n - 1];
    if (total == 0) { out[0] = px[0]; out[1] = py[0]; return 1; }
    long m = (long)floor(total);
    unsigned char *corner = calloc((size_t)m + 1, 1);
    if (!corner) return -1;
    corner[0] = corner[m] = 1;
    for (long i = 0; i + 1 < n; i++) {
        double c = ceil(arc[i]);
        corner[c < (double)m ? (long)c : m] = 1;
        corner[(long)floor(arc[i + 1])] = 1;
    }
    long k = 0;
    double last = 0;
    for (long i = 0; i <= m; i++)
        if (corner[i]) {
            last = (double)i;
            out[2 * k] = interp(last, arc, px, n);
            out[2 * k + 1] = interp(last, arc, py, n);
            k++;
        }
    free(corner);
    if (total - last > 1e-9) {
        out[2 * k] = interp(total, arc, px, n);
        out[2 * k + 1] = interp(total, arc, py, n);
        k++;
    }
    return k;
}

/* ink.rdp(points, epsilon) in place on n (x, y) pairs; returns how many are kept. keep and
 * stack are scratch of n bytes and 4 n longs. */
static long rdp(double *p, long n, double epsilon, unsigned char *keep, long *stack)
{
    if (n < 3) return n;
    memset(keep, 0, (size_t)n);
    keep[0] = keep[n - 1] = 1;
    long top = 0;
    stack[top++] = 0;
    stack[top++] = n - 1;
    while (top) {
        long b = stack[--top], a = stack[--top];
        if (b - a < 2) continue;
        double x0 = p[2 * a], y0 = p[2 * a + 1];
        double dx = p[2 * b] - x0, dy = p[2 * b + 1] - y0;
        double norm = hypot(dx, dy), farthest = -1.0, limit;
        long mid = a;
        if (norm == 0) {
            for (long i = a + 1; i < b; i++) {
                double d = hypot(p[2 * i] - x0, p[2 * i + 1] - y0);
                if (d > farthest) { farthest = d; mid = i; }
            }
            limit = epsilon;
        } else {
            for (long i = a + 1; i < b; i++) {
                double d = fabs(dx * (p[2 * i + 1] - y0) - dy * (p[2 * i] - x0));
                if (d > farthest) { farthest = d; mid = i; }
            }
            limit = epsilon * norm;
        }
        if (farthest > limit) {
            keep[mid] = 1;
            /* popped last first: (a, mid) pushed before (mid, b), as ink.rdp does */
            stack[top++] = a;
            stack[top++] = mid;
            stack[top++] = mid;
            stack[top++] = b;
        }
    }
    long k = 0;
    for (long i = 0; i < n; i++)
        if (keep[i]) { p[2 * k] = p[2 * i]; p[2 * k + 1] = p[2 * i + 1]; k++; }
    return k;
}

/* ink.normalize: align to 0, scale the longer side to 255, resample, RDP at epsilon. n
 * points (x, y doubles, strokes end to end), each stroke's length; out (room for
 * 2 n + 2 n_strokes points) and out_lengths get the result. Returns the points written, or
 * -1 when memory ran out. */
long es_normalize(long n, const double *points, int n_strokes, const long *lengths,
                  double epsilon, double *out, long *out_lengths)
{
    box b = bounds(n, points);
    double side = span(b), scale = side > 0 ? 255.0 / side : 1.0;
    long longest = 1;
    for (int s = 0; s < n_strokes; s++) longest = lengths[s] > longest ? lengths[s] : longest;
    double *xs = malloc(sizeof(double) * 3 * longest);
    unsigned char *keep = malloc(2 * (size_t)longest + 3);
    long *stack = malloc(sizeof(long) * (8 * (size_t)longest + 16));  /* 2 pairs a point */
    if (!xs || !keep || !stack) { free(xs); free(keep); free(stack); return -1; }
    double *ys = xs + longest, *arc = ys + longest;
    long written = 0, start = 0;
    for (int s = 0; s < n_strokes; s++) {
        long len = lengths[s];
        for (long i = 0; i < len; i++) {
            xs[i] = (points[2 * (start + i)] - b.lox) * scale;
            ys[i] = (points[2 * (start + i) + 1] - b.loy) * scale;
        }
        long k = resample_corners(xs, ys, len, arc, out + 2 * written);
        if (k < 0) { written = -1; break; }
        k = rdp(out + 2 * written, k, epsilon, keep, stack);
        out_lengths[s] = k;
        written += k;
        start += len;
    }
    free(xs); free(keep); free(stack);
    return written;
}

/* -- the rasteriser: emojisketch/ink.py's rasterize, step for step ------------------- */

/* Rasterise one drawing (ink.rasterize, where the method is explained): n points (x, y
 * doubles, strokes end to end) with each stroke's length; the constants and the coverage
 * table come from ink.py. nearest and clear are scratch of ss_side^2 doubles; out gets
 * side^2 floats. Every step is done as numpy does it there, in doubles, in the same
 * order, so the two agree to the bit. Returns 0, -1 for points it cannot take, -2 when
 * memory ran out. */
int es_rasterize(long n, const double *points, int n_strokes, const long *lengths,
                 double frame, double margin, double scale_ss, double reach, double limit2,
                 double steps, int table_len, const double *cover, const double *slope,
                 int side, int ss, double *nearest, double *clear, float *out)
{
    int N = side * ss;
    if (ss != 2) return -1;  /* the last step averages 2x2 subpixels */
    box b = bounds(n, points);
    if (!(b.lox == b.lox && b.loy == b.loy && b.hix == b.hix && b.hiy == b.hiy)) return -1;  /* NaN */
    /* q: every point in subpixels, as ink.rasterize_numpy's q */
    double *q = malloc(sizeof(double) * 2 * (size_t)n);
    if (!q) return -2;
    int fit = !((b.lox < b.loy ? b.lox : b.loy) >= 0 && (b.hix > b.hiy ? b.hix : b.hiy) <= 255);
    double sc = fit && span(b) > 255.0 ? 255.0 / span(b) : 1.0;  /* else left as they are */
    for (long i = 0; i < n; i++) {
        q[2 * i] = fit ? (points[2 * i] - b.lox) * sc : points[2 * i];
        q[2 * i + 1] = fit ? (points[2 * i + 1] - b.loy) * sc : points[2 * i + 1];
    }
    box f = bounds(n, q);
    double offx = (frame - f.hix) / 2 + margin, offy = (frame - f.hiy) / 2 + margin;
    for (long i = 0; i < n; i++) {
        q[2 * i] = (q[2 * i] + offx) * scale_ss;
        q[2 * i + 1] = (q[2 * i + 1] + offy) * scale_ss;
    }
    for (long i = 0; i < (long)N * N; i++) clear[i] = 1.0;
    long start = 0;
    for (int s = 0; s < n_strokes; s++) {
        long len = lengths[s];
        for (long i = 0; i < (long)N * N; i++) nearest[i] = INFINITY;
        long n_seg = len > 1 ? len - 1 : 1;
        for (long g = 0; g < n_seg; g++) {
            long ia = start + g, ib = len > 1 ? ia + 1 : ia;
            double ax = q[2 * ia], ay = q[2 * ia + 1];
            double dx = q[2 * ib] - ax, dy = q[2 * ib + 1] - ay;
            double ex = ax + dx, ey = ay + dy;
            double fx0 = floor((ax < ex ? ax : ex) - reach), fx1 = ceil((ax > ex ? ax : ex) + reach);
            double fy0 = floor((ay < ey ? ay : ey) - reach), fy1 = ceil((ay > ey ? ay : ey) + reach);
            long x0 = fx0 < 0 ? 0 : fx0 > N - 1 ? N - 1 : (long)fx0;
            long x1 = fx1 < 0 ? 0 : fx1 > N - 1 ? N - 1 : (long)fx1;
            long y0 = fy0 < 0 ? 0 : fy0 > N - 1 ? N - 1 : (long)fy0;
            long y1 = fy1 < 0 ? 0 : fy1 > N - 1 ? N - 1 : (long)fy1;
            double len2 = dx * dx + dy * dy;
            double inv = 1.0 / (len2 > 0 ? len2 : 1.0);
            double cx = 0.5 - ax, cy = 0.5 - ay;
            for (long py = y0; py <= y1; py++)
                for (long px = x0; px <= x1; px++) {
                    double rx = px + cx, ry = py + cy;
                    double t = (rx * dx + ry * dy) * inv;
                    t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
                    rx -= t * dx;
                    ry -= t * dy;
                    double d2 = rx * rx + ry * ry;
                    double *q = nearest + py * N + px;
                    if (d2 < *q) *q = d2;
                }
        }
        for (long i = 0; i < (long)N * N; i++) {
            if (!(nearest[i] < limit2)) continue;
            double at = sqrt(nearest[i]) * steps;
            long k = (long)at;
            if (k > table_len - 2) k = table_len - 2;
            double c = cover[k] + (at - k) * slope[k];
            clear[i] *= 1.0 - c;
        }
        start += len;
    }
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            const double *r0 = clear + (long)(ss * y) * N + ss * x, *r1 = r0 + N;
            out[y * side + x] = (float)(1.0 - (r0[0] + r0[1] + r1[0] + r1[1]) / 4.0);
        }
    free(q);
    return 0;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#ifndef ES_SOURCE_SHA256
#define ES_SOURCE_SHA256 "unknown"  /* setup.py passes this file's checksum */
#endif

/* The checksum of the source this library was built from (emojisketch/native.py, stale). */
const char *es_source_sha256(void) { return ES_SOURCE_SHA256; }

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                                    "The net's inference in C (called through ctypes).", -1, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
