// The guide's own figures and the column each counts: in a module of its own, without pg, because
// the comparisons (which the workflow runs too) need to know which table holds which figure.

/** The guide's figures: the non-null values of one column of a table. */
export const GUIDE_COLUMNS = {
  seriesIuids: ['series', 'series_iuid'],
  sopIuids: ['instance', 'sop_iuid'],
  storagePaths: ['location', 'storage_path'],
} as const;

export type GuideFigure = keyof typeof GUIDE_COLUMNS;

export const GUIDE_FIGURES = Object.keys(GUIDE_COLUMNS) as GuideFigure[];

/** The figures whose column lies in one of `tables`. */
export const figuresIn = (tables: readonly string[]): GuideFigure[] => GUIDE_FIGURES.filter((f) => tables.includes(GUIDE_COLUMNS[f][0]));
