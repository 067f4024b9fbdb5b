// Processes, mailboxes, monitors, links and call/reply across the job's nodes.
//   mpirun -np 3 ./build/examples/cadre-actors
#include <cadre/cadre.hpp>
#include <cstdio>
#include <string>

using namespace std::chrono_literals;

struct Deposit {
  int amount = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& amount;
  }
};
CADRE_MESSAGE(Deposit);

struct Balance {
  template <class A>
  void serialize(A&, unsigned) {}
};
CADRE_MESSAGE(Balance);

// A bank account: deposits come as messages, the balance is asked for with call().
void account(int start) {
  int balance = start;
  for (;;) {
    cadre::receive(cadre::match<Deposit>([&](const Deposit& d) {
                     if (d.amount < 0) throw std::invalid_argument("negative deposit");
                     balance += d.amount;
                   }),
                   cadre::match<Balance>([&](const Balance&) { cadre::reply(balance); }));
  }
}
CADRE_TASK(account);

// Selective receive: takes "urgent" strings first, whatever their place in the mailbox.
void triage(cadre::Pid boss) {
  std::string order;
  for (int i = 0; i < 4; ++i) {
    auto urgent = cadre::receive(
        10ms, cadre::match<std::string>([](const std::string& s) { return s[0] == '!'; },
                                        [](const std::string& s) { return s; }));
    order +=
        urgent ? *urgent
               : cadre::receive(cadre::match<std::string>([](const std::string& s) { return s; }));
    order += ' ';
  }
  cadre::send(boss, order);
}
CADRE_TASK(triage);

int main(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    auto far = cadre::nodes().back();

    // A monitored account on another node, named so that anyone can find it.
    auto [acct, ref] = cadre::spawn_monitor(far, account, 100);
    cadre::register_name("bank", acct);
    cadre::send(*cadre::whereis("bank"), Deposit{42});
    std::printf("balance: %d\n", cadre::call<int>(acct, Balance{}, 1s));

    // A bad deposit kills it: the monitor delivers a Down with the reason.
    cadre::send(acct, Deposit{-1});
    cadre::receive(cadre::on_down([](const cadre::Down& d) {
      std::printf("account %s ended: %s (%s)\n", fmt::format("{}", d.pid).c_str(),
                  std::string(cadre::to_string(d.reason)).c_str(), d.detail.c_str());
    }));

    // Selective receive keeps the other messages in order.
    auto t = cadre::spawn(far, triage, cadre::self());
    for (const char* s : {"a", "b", "!fire", "c"}) cadre::send(t, std::string(s));
    cadre::receive(cadre::match<std::string>(
        [](const std::string& s) { std::printf("triage order: %s\n", s.c_str()); }));

    // Linked processes fall together; a process that traps exits gets an Exit instead.
    cadre::trap_exits(true);
    auto linked = cadre::spawn_link(far, account, 0);
    cadre::kill(linked, "closing the branch");
    cadre::receive(cadre::on_exit([](const cadre::Exit& e) {
      std::printf("linked account ended: %s (%s)\n",
                  std::string(cadre::to_string(e.reason)).c_str(), e.detail.c_str());
    }));
    return 0;
  });
}
