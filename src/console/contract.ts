/**
 * What the console's server and its page (src/console/web/) both speak. The page imports only
 * its own folder and this module, so everything here is plain data and types: no import.
 */

/** The schedule list's filters, in the order the page offers them. */
export const FILTERS = ["all", "active", "paused", "invalid", "failing", "overdue"] as const;
export type Filter = (typeof FILTERS)[number];
