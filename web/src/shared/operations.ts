import { graphql } from "../graphql.ts";

/** The signed-in user a token belongs to. */
export const CurrentUser = graphql(`
  query CurrentUser {
    currentUser {
      displayName
      email
      role
    }
  }
`);

/** Ends the token's session on the server. */
export const SignOut = graphql(`
  mutation SignOut {
    signOut(input: {}) {
      signedOut
    }
  }
`);

/** explain_charge: why a usage event costs what it does, in words and data. */
export const ExplainChargeQuery = graphql(`
  query ExplainCharge($id: BigInt!) {
    explainCharge(usageEventId: $id)
    billingPlans(first: 1) {
      nodes { currency }
    }
  }
`);
