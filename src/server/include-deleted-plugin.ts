import { ConstantStep } from "postgraphile/grafast";
import { sql } from "postgraphile/pg-sql2";

/**
 * Every list of a soft-delete table (a column `is_deleted`) leaves deleted
 * rows out unless asked with `includeDeleted: true`. For coaches this changes
 * nothing (row-level security already hides deleted rows from them); it is
 * how admins and auditors see them, and how they do not by accident.
 */
export const IncludeDeletedPlugin: GraphileConfig.Plugin = {
  name: "IncludeDeletedPlugin",
  version: "1.0.0",
  schema: {
    hooks: {
      GraphQLObjectType_fields_field_args(args, build, context) {
        const { isPgFieldConnection, isPgFieldSimpleCollection, pgFieldResource, pgFieldCodec, fieldName } = context.scope;
        const codec = pgFieldCodec ?? pgFieldResource?.codec;
        // Lists of table rows only: a function returning rows decides for itself.
        if (!(isPgFieldConnection || isPgFieldSimpleCollection) || pgFieldResource?.parameters) return args;
        if (!codec?.attributes?.["is_deleted"]) return args;
        const hideDeleted = (queryBuilder: { alias: unknown; where(condition: unknown): void }, include: unknown) => {
          if (include !== true) queryBuilder.where(sql`not ${queryBuilder.alias as never}.is_deleted`);
        };
        return build.extend(
          args,
          {
            includeDeleted: {
              description: "Include soft-deleted rows (admins and auditors; coaches never see them).",
              type: build.graphql.GraphQLBoolean,
              defaultValue: false,
              applyPlan: isPgFieldConnection
                ? (_: unknown, $connection: any, fieldArg: any) => applyIncludeDeleted($connection.getSubplan(), fieldArg, hideDeleted)
                : (_: unknown, $select: any, fieldArg: any) => applyIncludeDeleted($select, fieldArg, hideDeleted),
            },
          },
          `Adding includeDeleted to ${fieldName}`,
        );
      },
    },
  },
};

/**
 * Grafast skips an argument's apply callback when the query leaves the
 * argument out (its default is not passed on), so leaving out
 * includeDeleted must hide deleted rows here, at plan time.
 */
function applyIncludeDeleted($select: any, fieldArg: any, hideDeleted: (queryBuilder: any, include: unknown) => void): void {
  const $raw = fieldArg.getRaw();
  if ($raw instanceof ConstantStep && $raw.data === undefined) $select.where(sql`not ${$select.alias}.is_deleted`);
  else fieldArg.apply($select, hideDeleted);
}
