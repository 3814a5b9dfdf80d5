// Placeholder entry point; the command-line tool is built in tools/.
#include <cstdio>
int main() { std::puts("rowjit"); return 0; }
