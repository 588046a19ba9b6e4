/* Data-parallel training of a gradc model with MPI (docs/scaling-out.md).
 *
 * Every process runs the same gradc-generated function (model.ir's digits_step, compiled with
 * `gradc compile --backend c`) on its share of each global batch, the gradients are summed
 * across processes with one MPI_Allreduce, and every process applies the same update, so the
 * parameters stay identical everywhere. A global batch is MICRO micro-batches of 16 images;
 * process r computes micro-batches r, r + P, r + 2P, … (P processes), so the partition of the
 * work — and the result, up to the order of the allreduce's sums — does not depend on P.
 *
 *   mpirun -np P ./train DIGITS.csv [--epochs E] [--steps S] [--micro M] [--dump FILE]
 *
 * --steps S stops after S updates (for the equivalence check); --dump writes the final
 * parameters (raw little-endian doubles, w1 b1 w2 b2) from rank 0. Rank 0 prints, per epoch,
 * the mean training loss, the held-out accuracy and where the time went (the generated
 * function vs the allreduce); it exits 1 if the final accuracy is below 90 %.
 */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"

enum { B = 16, D = 64, H = 32, K = 10 };
enum { NW1 = D * H, NB1 = H, NW2 = H * K, NB2 = K, NPARAM = NW1 + NB1 + NW2 + NB2 };

/* A small deterministic generator (the same numbers on every process and machine). */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static double uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static int load(const char *path, double **images, int **labels) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int cap = 2048, n = 0;
    *images = malloc(sizeof(double) * D * cap);
    *labels = malloc(sizeof(int) * cap);
    for (;;) {
        int v[D + 1], k;
        for (k = 0; k <= D; k++) {
            if (fscanf(f, k == 0 ? "%d" : ",%d", &v[k]) != 1) break;
        }
        if (k == 0) break;
        if (k != D + 1 || v[D] < 0 || v[D] >= K || n == cap) { fclose(f); return -1; }
        for (k = 0; k < D; k++) (*images)[n * D + k] = v[k] / 16.0;
        (*labels)[n] = v[D];
        n++;
    }
    fclose(f);
    return n;
}

static double now(void) { return MPI_Wtime(); }

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *data = NULL, *dump = NULL;
    int epochs = 30, max_steps = -1, micro = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--epochs") && i + 1 < argc) epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) max_steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--micro") && i + 1 < argc) micro = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = argv[++i];
        else data = argv[i];
    }
    double *images = NULL;
    int *labels = NULL;
    int n = data ? load(data, &images, &labels) : -1;
    if (n < 200 || micro < 1 || epochs < 1) {
        if (rank == 0) fprintf(stderr, "usage: train DIGITS.csv [--epochs E] [--steps S] [--micro M] [--dump FILE] (could not read the data?)\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
        return 2;
    }
    /* The same shuffled split everywhere: 80 % training, the rest held out. */
    int *order = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(uniform() * (i + 1));
        int t = order[i]; order[i] = order[j]; order[j] = t;
    }
    int ntrain = n * 4 / 5, ntest = n - ntrain;
    /* Parameters: He-style uniform initialisation on rank 0, broadcast to all. */
    double *params = calloc(NPARAM, sizeof(double)), *velocity = calloc(NPARAM, sizeof(double));
    if (rank == 0) {
        for (int i = 0; i < NW1; i++) params[i] = (2 * uniform() - 1) * sqrt(6.0 / D);
        for (int i = 0; i < NW2; i++) params[NW1 + NB1 + i] = (2 * uniform() - 1) * sqrt(6.0 / H);
    }
    MPI_Bcast(params, NPARAM, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    double *w1 = params, *b1 = w1 + NW1, *w2 = b1 + NB1, *b2 = w2 + NW2;

    /* One buffer for the loss and the gradient: one allreduce per step. */
    double local[1 + NPARAM], total[1 + NPARAM], part[1 + NPARAM];
    double x[B * D], y[B * K];
    const void *inputs[6] = {x, y, w1, b1, w2, b2};
    void *outputs[5] = {&part[0], &part[1], &part[1 + NW1], &part[1 + NW1 + NB1], &part[1 + NW1 + NB1 + NW2]};
    void *workspace = malloc(digits_step_WORKSPACE_BYTES + digits_predict_WORKSPACE_BYTES + 64);
    const int global = micro * B, steps_per_epoch = ntrain / global;
    const double rate = 0.1, momentum = 0.9;
    double kernel_time = 0, reduce_time = 0, train_time = 0;
    int step = 0, done = 0;
    double accuracy = 0;
    for (int epoch = 1; epoch <= epochs && !done; epoch++) {
        double epoch_loss = 0;
        int epoch_steps = 0;
        for (int s = 0; s < steps_per_epoch; s++) {
            memset(local, 0, sizeof local);
            double t0 = now();
            for (int m = rank; m < micro; m += size) {
                for (int r = 0; r < B; r++) {
                    int i = order[((long)step * global + m * B + r) % ntrain];
                    memcpy(&x[r * D], &images[i * D], sizeof(double) * D);
                    for (int k = 0; k < K; k++) y[r * K + k] = labels[i] == k;
                }
                if (digits_step(inputs, outputs, workspace) != 0) MPI_Abort(MPI_COMM_WORLD, 3);
                for (int k = 0; k <= NPARAM; k++) local[k] += part[k];
            }
            double t1 = now();
            MPI_Allreduce(local, total, 1 + NPARAM, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            double t2 = now();
            kernel_time += t1 - t0;
            reduce_time += t2 - t1;
            for (int k = 0; k < NPARAM; k++) {
                velocity[k] = momentum * velocity[k] - rate * total[1 + k] / global;
                params[k] += velocity[k];
            }
            train_time += now() - t0;
            epoch_loss += total[0] / global;
            epoch_steps++;
            step++;
            if (step == max_steps) { done = 1; break; }
        }
        /* Held-out accuracy (rank 0 alone: it is not part of the timed training). */
        if (rank == 0) {
            int correct = 0;
            double logits[B * K];
            const void *pin[5] = {x, w1, b1, w2, b2};
            void *pout[1] = {logits};
            for (int t = 0; t < ntest; t += B) {
                int rows = ntest - t < B ? ntest - t : B;
                memset(x, 0, sizeof x);
                for (int r = 0; r < rows; r++) memcpy(&x[r * D], &images[order[ntrain + t + r] * D], sizeof(double) * D);
                if (digits_predict(pin, pout, workspace) != 0) MPI_Abort(MPI_COMM_WORLD, 3);
                for (int r = 0; r < rows; r++) {
                    int best = 0;
                    for (int k = 1; k < K; k++) if (logits[r * K + k] > logits[r * K + best]) best = k;
                    correct += best == labels[order[ntrain + t + r]];
                }
            }
            accuracy = (double)correct / ntest;
            printf("epoch %2d  step %5d  loss %.4f  held-out accuracy %.1f %%  (%d processes; function %.3f s, allreduce %.3f s)\n",
                   epoch, step, epoch_steps ? epoch_loss / epoch_steps : 0.0, 100 * accuracy, size, kernel_time, reduce_time);
            fflush(stdout);
        }
        /* The others wait here, not in the next step's allreduce (which is timed). */
        MPI_Barrier(MPI_COMM_WORLD);
    }
    double elapsed = train_time;
    /* The slowest process's times: what the steps actually waited for. */
    double mine[2] = {kernel_time, reduce_time}, worst[2];
    MPI_Reduce(mine, worst, 2, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("%d processes: %d steps of %d images in %.3f s of training: %.1f steps/s; slowest process: function %.3f s, allreduce %.3f s (%zu bytes per step)\n",
               size, step, global, elapsed, step / elapsed, worst[0], worst[1], sizeof(double) * (1 + NPARAM));
        if (dump) {
            FILE *f = fopen(dump, "wb");
            if (!f || fwrite(params, sizeof(double), NPARAM, f) != NPARAM) { fprintf(stderr, "cannot write %s\n", dump); MPI_Abort(MPI_COMM_WORLD, 4); }
            fclose(f);
        }
    }
    int status = rank == 0 && max_steps < 0 && accuracy < 0.9;
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return status;
}
