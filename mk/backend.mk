# Reference backend and client programs (issue #5): handoff-backend,
# handoff-client. Their library parts live in ref/lib/{net,backend,client}/
# and are part of libhandoff like every ref/lib/*/*.c.
BACKEND_BIN := $(BUILD)/bin/handoff-backend
CLIENT_BIN := $(BUILD)/bin/handoff-client
BINS += $(BACKEND_BIN) $(CLIENT_BIN)

$(BACKEND_BIN): $(OBJ)/ref/bin/handoff-backend.o $(OBJ)/ref/bin/backend_flags.o \
    $(OBJ)/ref/bin/cli.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(filter %.o,$^) $(LIB_A) $(LDFLAGS) $(LIBDEPS)

$(CLIENT_BIN): $(OBJ)/ref/bin/handoff-client.o $(OBJ)/ref/bin/client_echo.o \
    $(OBJ)/ref/bin/client_flags.o $(OBJ)/ref/bin/cli.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(filter %.o,$^) $(LIB_A) $(LDFLAGS) $(LIBDEPS)

.PHONY: backend-bins
backend-bins: $(BACKEND_BIN) $(CLIENT_BIN)
