package store

const crashChildEnv = "TERN_STORE_CRASH_CHILD"

func crashChild() {}
