// Boost.MPI beside cadre: the workers run one task each that does Boost.MPI collectives on
// the communicator cadre hands out, and a type serialised the Boost way (a base class, NVPs)
// travels both through cadre and through Boost.MPI unchanged. Run with
//   mpirun -np 3 ./build/examples/cadre-boost-mpi
#include <boost/mpi/collectives.hpp>
#include <boost/serialization/base_object.hpp>
#include <boost/serialization/nvp.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cadre/boost_mpi.hpp>
#include <cadre/cadre.hpp>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

// Types as a Boost.MPI program already has them: nothing cadre-specific.
struct Body {
  double mass = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& BOOST_SERIALIZATION_NVP(mass);
  }
};

struct Particle : Body {
  std::string name;
  std::vector<double> position;
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& boost::serialization::make_nvp("body", boost::serialization::base_object<Body>(*this));
    ar& BOOST_SERIALIZATION_NVP(name);
    ar& BOOST_SERIALIZATION_NVP(position);
  }
};

// One task per worker. The workers sum their masses (all_reduce), gather every particle on
// each worker (all_gather) and return the heaviest, renamed with the total: every worker must
// give the same answer. The task holds its node while the collectives run: every worker
// gets one such task at the same time.
Particle heaviest(Particle mine) {
  boost::mpi::communicator workers = cadre::workers_communicator();
  const double total = boost::mpi::all_reduce(workers, mine.mass, std::plus<double>());
  std::vector<Particle> all;
  boost::mpi::all_gather(workers, mine, all);
  Particle best = all.front();
  for (const auto& p : all)
    if (p.mass > best.mass) best = p;
  best.name += " of " + std::to_string(workers.size()) + " (total mass " +
               std::to_string(static_cast<int>(total)) + ")";
  return best;
}
CADRE_TASK(heaviest);

int main(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    std::vector<cadre::NodeId> workers;
    for (auto n : cadre::nodes())
      if (n.value() != 0) workers.push_back(n);
    if (workers.empty()) {
      std::printf("boost_mpi: run with at least 2 ranks\n");
      return 1;
    }
    std::vector<cadre::Future<Particle>> answers;
    for (std::size_t k = 0; k < workers.size(); ++k) {
      Particle p;
      p.mass = 10.0 * static_cast<double>(k + 1);
      p.name = "p" + std::to_string(k + 1);
      p.position = {1.0 * static_cast<double>(k), 2.0, 3.0};
      answers.push_back(cadre::run(workers[k], heaviest, p));
    }
    int status = 0;
    for (auto& f : answers) {
      Particle got = f.get();
      std::printf("heaviest: %s, mass %.0f, at (%.0f, %.0f, %.0f)\n", got.name.c_str(), got.mass,
                  got.position[0], got.position[1], got.position[2]);
      if (got.mass != 10.0 * static_cast<double>(workers.size())) status = 1;
    }
    // The driver is not on the node loop: MPI is not its to call (without
    // Options::mpi_thread_multiple), and cadre says so instead of letting it race.
    try {
      cadre::world_communicator();
      std::printf("the driver was handed a communicator\n");
      status = 1;
    } catch (const cadre::WrongRole& e) {
      std::printf("as expected: %s\n", e.what());
    }
    return status;
  });
}
