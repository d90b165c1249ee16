export { migrateDcm4che } from './migrate-dcm4che.js';
