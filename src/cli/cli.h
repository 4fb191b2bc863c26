/* cli: one function per subcommand; argument parsing only. */
#ifndef RETRAIN_CLI_H
#define RETRAIN_CLI_H

#define RETRAIN_VERSION "0.1.0"

int cmd_mcp_db(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_tools(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_demo_data(int argc, char **argv);
int cmd_new_model(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_demo(int argc, char **argv);

#endif
