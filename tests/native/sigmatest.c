/* A small C library for Sigma's FFI tests (built by the facade's build.rs into OUT_DIR).
 * One function per C type the FFI maps, at the edges of each range, plus strings, buffers,
 * pointers, void and a long mixed signature. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

/* Narrow integers: returned values must be sign- or zero-extended back into an int. */
int8_t st_i8_neg(int8_t x) { return (int8_t)-x; }
uint8_t st_u8_not(uint8_t x) { return (uint8_t)~x; }
int16_t st_i16_min(void) { return INT16_MIN; }
uint16_t st_u16_max(void) { return UINT16_MAX; }
int32_t st_i32_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
uint32_t st_u32_max(void) { return UINT32_MAX; }
int64_t st_i64_mul(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
uint64_t st_u64_max(void) { return UINT64_MAX; }
/* Echoes that show what the callee received. */
int64_t st_i8_echo(int8_t x) { return x; }
int64_t st_u8_echo(uint8_t x) { return x; }
int64_t st_i16_echo(int16_t x) { return x; }
int64_t st_u16_echo(uint16_t x) { return x; }
int64_t st_i32_echo(int32_t x) { return x; }
int64_t st_u32_echo(uint32_t x) { return x; }
uint64_t st_u64_echo(uint64_t x) { return x; }

float st_f32_half(float x) { return x / 2.0f; }
double st_f64_scale(double x, double k) { return x * k; }
double st_f32_to_f64(float x) { return (double)x; }

/* Pointers round-trip as ints. */
static int64_t st_cell = 41;
void *st_cell_ptr(void) { return &st_cell; }
int64_t st_ptr_load(const int64_t *p) { return *p; }
int64_t st_ptr_is_null(const void *p) { return p == NULL; }

/* Strings in and out. */
size_t st_strlen(const char *s) { return strlen(s); }
static const char *names[] = {"zero", "one", "two"};
const char *st_name(int32_t i) { return (i >= 0 && i < 3) ? names[i] : NULL; }
const char *st_echo_str(const char *s) { return s; }

/* Buffers: the callee writes into the guest's bytes. */
void st_fill(uint8_t *buf, size_t n, uint8_t v) {
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(v + i);
}
int64_t st_sum_bytes(const uint8_t *buf, size_t n) {
    int64_t s = 0;
    for (size_t i = 0; i < n; i++) s += buf[i];
    return s;
}

/* void with a side effect observable through another call. */
static int64_t st_counter = 0;
void st_bump(int64_t by) { st_counter += by; }
int64_t st_count(void) { return st_counter; }

/* Many mixed arguments (more than fit in registers on some ABIs). */
double st_mix8(int32_t a, double b, int64_t c, float d, uint8_t e, double f, int16_t g, double h) {
    return a + b + (double)c + d + e + f + g + h;
}
int64_t st_ints10(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f, int64_t g,
                  int64_t h, int64_t i, int64_t j) {
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f + 7 * g + 8 * h + 9 * i + 10 * j;
}
