"""mammorcnn.engine"""
