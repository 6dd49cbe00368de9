import { graphql } from "../../graphql.ts";

/** Signs in: a session token for an email and password. */
export const Authenticate = graphql(`
  mutation Authenticate($email: String!, $password: String!) {
    authenticate(input: { email: $email, password: $password }) {
      jwtToken
    }
  }
`);
