// The Express 4 dev dependency is installed under the alias `express4`; its
// common surface is all the tests use.
declare module 'express4' {
  import express from 'express';
  export default express;
}
