import express from "express";

/** What /graphiql answers when GraphiQL is off, instead of a bare "Not found." */
export const graphiqlOffMessage =
  "GraphiQL is off in this installation (GRAPHIQL=off, the default when NODE_ENV=production). Set GRAPHIQL=on and GRAPHQL_INTROSPECTION=on to serve it at /graphiql.";

/** /graphiql and Ruru's assets: 404 in words. */
export function graphiqlOff(): express.Router {
  const router = express.Router();
  router.all(["/graphiql", "/ruru-static/{*asset}"], (_req, res) => {
    res.status(404).json({ error: graphiqlOffMessage });
  });
  return router;
}
