// The checks spawn_nodes makes before MPI_Comm_spawn (runtime/api/spawn_checks.hpp): pure
// functions, so every refusal is tried here without MPI.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "api/spawn_checks.hpp"

using cadre::api::check_capacity;
using cadre::api::check_program;
using cadre::api::expand_host_list;
using cadre::api::known_hosts;
using cadre::api::spawn_hazard;

TEST(SpawnChecks, SlurmHostListsExpand) {
  EXPECT_EQ(expand_host_list("node[01-03],login"),
            (std::vector<std::string>{"node01", "node02", "node03", "login"}));
  EXPECT_EQ(expand_host_list("a[1,3-4]b"), (std::vector<std::string>{"a1b", "a3b", "a4b"}));
  EXPECT_EQ(expand_host_list("h1 h2"), (std::vector<std::string>{"h1", "h2"}));
  EXPECT_TRUE(expand_host_list("").empty());
  // Malformed ranges give nothing rather than a huge or negative list.
  EXPECT_TRUE(expand_host_list("n[5-1]").empty());
  EXPECT_TRUE(expand_host_list("n[0-99999999]").empty());
}

TEST(SpawnChecks, KnownHostsComeFromNodesSlurmAndTheLauncher) {
  ::setenv("SLURM_JOB_NODELIST", "c[1-2]", 1);
  ::setenv("CADRE_HOSTS", "h1:4,h2", 1);
  auto hosts = known_hosts({"vm", "vm"});
  ::unsetenv("SLURM_JOB_NODELIST");
  ::unsetenv("CADRE_HOSTS");
  EXPECT_EQ(hosts, (std::vector<std::string>{"c1", "c2", "h1", "h2", "vm"}));
}

TEST(SpawnChecks, CapacityCountsRunningNodesUnlessOversubscribed) {
  EXPECT_EQ(check_capacity(1, 2, 1, false), "");
  EXPECT_NE(check_capacity(2, 2, 1, false).find("no free capacity for 2 more node(s)"),
            std::string::npos);
  EXPECT_NE(check_capacity(2, 2, 1, false).find("--oversubscribe"), std::string::npos);
  EXPECT_EQ(check_capacity(50, 2, 1, true), "");
  EXPECT_EQ(check_capacity(3, 0, 1, false), "");  // MPI does not say: not refused here
  EXPECT_NE(check_capacity(0, 8, 1, false).find("at least 1"), std::string::npos);
}

TEST(SpawnChecks, ProgramsMustExistAndBeExecutable) {
  EXPECT_TRUE(check_program("", "").error.empty());  // this binary
  EXPECT_NE(check_program("", "").path, "");
  EXPECT_NE(check_program("/no/such/file", "").error.find("does not exist"), std::string::npos);
  EXPECT_NE(check_program("no-such-program-xyz", "").error.find("not found on PATH"),
            std::string::npos);
  EXPECT_EQ(check_program("sh", "").error, "");  // found on PATH
  const std::string dir = "/tmp/cadre-spawn-checks-" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0755);
  const std::string file = dir + "/prog";
  { std::ofstream(file) << "#!/bin/sh\n"; }
  ::chmod(file.c_str(), 0644);
  EXPECT_NE(check_program(file, "").error.find("is not executable"), std::string::npos);
  ::chmod(file.c_str(), 0755);
  EXPECT_EQ(check_program(file, "").path, file);
  // A relative path is taken from wdir.
  EXPECT_EQ(check_program("./prog", dir).path, dir + "/./prog");
  EXPECT_NE(check_program(dir, "").error.find("not a regular file"), std::string::npos);
  std::remove(file.c_str());
  ::rmdir(dir.c_str());
}

TEST(SpawnChecks, PmixSharedMemoryStoreIsAHazardAndHashIsNot) {
  // Open MPI 4.1 under PMIx 4 with the default stores (ds21 first): a warning saying what to set.
  const std::string hazard = spawn_hazard("4.2.2rc2", "ds21,ds12,hash");
  EXPECT_NE(hazard.find("PMIX_MCA_gds=hash"), std::string::npos) << hazard;
  EXPECT_NE(hazard.find("4.2.2rc2"), std::string::npos) << hazard;
  EXPECT_NE(hazard.find("2735"), std::string::npos) << hazard;
  // mpirun started with PMIX_MCA_gds=hash, another PMIx series, or no PMIx launcher (Hydra).
  EXPECT_EQ(spawn_hazard("4.2.2rc2", "hash"), "");
  EXPECT_EQ(spawn_hazard("3.2.3", "ds21,ds12,hash"), "");
  EXPECT_EQ(spawn_hazard(nullptr, nullptr), "");
  EXPECT_EQ(spawn_hazard("4.2.2", nullptr), "");
  EXPECT_EQ(spawn_hazard("garbage", "ds21"), "");
  EXPECT_EQ(spawn_hazard("5.0.1", "ds21"), "");  // not known to hang
}
