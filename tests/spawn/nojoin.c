/* An MPI program that is not a cadre program: spawned, it never joins. It ends by itself. */
#include <mpi.h>
#include <unistd.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  sleep(3);
  MPI_Finalize();
  return 0;
}
