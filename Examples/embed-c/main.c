/* Embedding gradc-generated derivative code in a plain C program.
 *
 *   swift run gradc compile Examples/embed-c/rosenbrock.ir --backend c -o Examples/embed-c/build
 *   cc -O2 -ffp-contract=off -I Examples/embed-c/build Examples/embed-c/main.c \
 *      Examples/embed-c/build/model.c -lm -o rosenbrock-descent
 *   ./rosenbrock-descent
 *
 * (Examples/embed-c/build.sh does the three steps.) Nothing from gradc is linked: model.c
 * needs only libc and libm. The function of rosenbrock.ir returns f(x, y) and its gradient;
 * this program runs gradient descent with it. The header names it after the .ir function
 * (`rosenbrock`, or `--prefix NAME`), with its sizes as rosenbrock_NUM_INPUTS, … .
 */
#include <stdio.h>
#include <stdlib.h>
#include "model.h"

int main(void) {
    double x = -1.2, y = 1.0;          /* inputs[0], inputs[1] */
    double f, dfdx, dfdy;              /* outputs[0..2] */
    static unsigned char workspace[rosenbrock_WORKSPACE_BYTES + 1];

    const void *inputs[rosenbrock_NUM_INPUTS] = {&x, &y};
    void *outputs[rosenbrock_NUM_OUTPUTS] = {&f, &dfdx, &dfdy};

    const double step = 1e-3;
    for (int it = 0; it <= 20000; it++) {
        if (rosenbrock(inputs, outputs, workspace) != 0) {
            fprintf(stderr, "gradc function failed\n");
            return 1;
        }
        if (it % 4000 == 0) {
            printf("iteration %5d: x = %.6f, y = %.6f, f = %.3e, grad = (%.3e, %.3e)\n", it, x, y, f, dfdx, dfdy);
        }
        x -= step * dfdx;
        y -= step * dfdy;
    }
    printf("minimum near (1, 1): x = %.4f, y = %.4f\n", x, y);
    return (x > 0.9 && y > 0.8) ? 0 : 1;
}
