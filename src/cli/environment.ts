// Imported first by the CLI: Grafast reads GRAPHILE_ENV once, when it loads.
process.env.GRAPHILE_ENV ??= process.env.NODE_ENV === "production" ? "production" : "development";
