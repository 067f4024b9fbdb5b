// A worker in Rpc_parallel's style: spawned with an initial argument (the worker's state), it
// serves any number of connections, each with state of its own, over typed channels.
//   mpirun -np 3 ./build/examples/cadre-rpc-worker
#include <cadre/cadre.hpp>
#include <cstdio>
#include <map>
#include <string>

// What a connection sends, and what it gets back.
struct Query {
  std::string word;
  bool shutdown = false;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& word& shutdown;
  }
};
struct Answer {
  std::string text;
  int asked = 0;  // by this connection so far
  int unknown = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& text& asked& unknown;
  }
};

// The worker's state is the dictionary it was spawned with; each connection's state counts
// its own questions, kept from its Connect to its Disconnect.
void dictionary(cadre::Hub<Query, Answer>& hub, std::map<std::string, std::string> words) {
  struct Connection {
    int asked = 0;
    int unknown = 0;
  };
  std::map<cadre::Pid, Connection> connections;
  for (;;) {
    auto ev = hub.listen();
    if (auto* c = std::get_if<cadre::Connect>(&ev)) {
      connections[c->client] = {};
    } else if (auto* d = std::get_if<cadre::Disconnect>(&ev)) {
      connections.erase(d->client);
    } else {
      auto& [client, q] = std::get<cadre::Data<Query>>(ev);
      if (q.shutdown) return;
      auto& conn = connections[client];
      auto it = words.find(q.word);
      conn.unknown += it == words.end();
      hub.send(client, Answer{it == words.end() ? "?" : it->second, ++conn.asked, conn.unknown});
    }
  }
}
CADRE_TASK(dictionary);

// Another process, given the channel: a second connection, with its own counts.
void reader(cadre::Channel<Query, Answer> ch, cadre::Pid boss, std::string word) {
  Answer a;
  for (int i = 0; i < 3; ++i) {
    ch.write(Query{word});
    a = ch.read();
  }
  cadre::send(boss, word + " -> " + a.text + " (asked " + std::to_string(a.asked) + ")");
}
CADRE_TASK(reader);

int main(int argc, char** argv) {
  return cadre::launch(argc, argv, [] {
    std::map<std::string, std::string> words{{"chat", "cat"}, {"chien", "dog"}};
    auto [ch, done] = cadre::spawn_hub<Query, Answer>(cadre::any, dictionary, words);
    cadre::spawn(cadre::any, reader, ch, cadre::self(), "chien");
    for (const char* w : {"chat", "loup"}) {
      ch.write(Query{w});
      Answer a = ch.read();
      std::printf("%s -> %s (asked %d, unknown %d)\n", w, a.text.c_str(), a.asked, a.unknown);
    }
    std::printf("%s\n",
                cadre::receive(cadre::match<std::string>([](auto& s) { return s; })).c_str());
    ch.write(Query{"", true});
    done.get();
    return 0;
  });
}
